#!/usr/bin/env python3
"""Points a kustomization's `images:` entry at a new image, by digest, the GitOps way:

    scripts/set-overlay-image.py KUSTOMIZATION NAME NEW_NAME NEW_TAG DIGEST

sets `newName: NEW_NAME`, `newTag: "NEW_TAG"` and `digest: DIGEST` (sha256:<64 hex>, the digest of
the multi-architecture image index CI pushed) on the entry whose `name:` is NAME, keeping every other
line, comment and the layout of the file as they are. kustomize then writes the containers'
`image:` as NEW_NAME:NEW_TAG@DIGEST: the node pulls by the digest (the tag is only there for people
to read), so what runs is exactly what CI built and scanned, even if the tag were moved. Only the
standard library, so the CI job that holds `contents: write` installs nothing. Exits 0 when the file
changed or already pointed there, 2 on bad usage or a missing file, 3 when the file has no
block-style `images:` list with an entry named NAME (say so instead of adding one: an entry whose
name matches no container changes nothing, silently). The all-zero digest is the overlay's
placeholder before CI's first run: refused here.

What `kustomize edit set image NAME=NEW_NAME:NEW_TAG@DIGEST` does, without a kustomize binary and
without rewriting the file; CI then renders the overlay with `kubectl kustomize` to prove the result.
tools/tests/test_set_overlay_image.py runs it on scratch files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

KEY = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[A-Za-z][A-Za-z0-9_]*):(?P<rest>.*)$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
NAME = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def fail(code: int, message: str) -> None:
    print(f"set-overlay-image: {message}", file=sys.stderr)
    sys.exit(code)


def scalar(rest: str) -> str:
    """The plain or quoted scalar after `key:`, without a trailing comment."""
    value = rest.strip()
    if value[:1] in ("'", '"'):
        end = value.find(value[0], 1)
        return value[1:end] if end > 0 else value[1:]
    return re.sub(r"\s+#.*$", "", value)


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        fail(2, "usage: set-overlay-image.py KUSTOMIZATION NAME NEW_NAME NEW_TAG DIGEST")
    path, name, new_name, new_tag, digest = Path(argv[1]), argv[2], argv[3], argv[4], argv[5]
    if not NAME.match(new_name):
        fail(2, f"not an image name: {new_name!r}")
    if not TAG.match(new_tag):
        fail(2, f"not an image tag: {new_tag!r}")
    if not DIGEST.match(digest):
        fail(2, f"not an image digest (sha256:<64 lowercase hex>): {digest!r}")
    if digest == PLACEHOLDER_DIGEST:
        fail(2, "the all-zero digest is the overlay's placeholder, not an image")
    if not path.is_file():
        fail(2, f"{path} does not exist")

    text = path.read_text()
    lines = text.splitlines()
    # The top-level `images:` key and the lines of its block (up to the next top-level key).
    start = next((i for i, line in enumerate(lines) if re.match(r"^images:\s*(#.*)?$", line)), None)
    if start is None:
        fail(3, f"{path} has no top-level block-style `images:` list")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "#", "-"))):
        end += 1

    # Split the block into list items: each starts with `- ` at the items' indentation.
    items: list[list[int]] = []
    item_indent = None
    for i in range(start + 1, end):
        match = KEY.match(lines[i])
        if match and match["dash"] and (item_indent is None or len(match["indent"]) == item_indent):
            item_indent = len(match["indent"])
            items.append([i])
        elif items and lines[i].strip():
            items[-1].append(i)

    for item in items:
        fields = {}
        for i in item:
            match = KEY.match(lines[i])
            if match:
                fields[match["key"]] = (i, match)
        if "name" not in fields or scalar(fields["name"][1]["rest"]) != name:
            continue
        first = KEY.match(lines[item[0]])
        key_column = len(first["indent"]) + len(first["dash"])
        wanted = {"newName": new_name, "newTag": f'"{new_tag}"', "digest": digest}
        # New keys go after the item's last key line (not after a trailing comment of the block).
        last = max(i for i in item if KEY.match(lines[i]))
        for key, value in wanted.items():
            if key in fields:
                i, match = fields[key]
                prefix = match["indent"] + (match["dash"] or "")
                lines[i] = f"{prefix}{key}: {value}"
        inserts = [f"{' ' * key_column}{key}: {value}" for key, value in wanted.items() if key not in fields]
        lines = lines[: last + 1] + inserts + lines[last + 1 :]
        new_text = "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")
        if new_text == text:
            print(f"{path}: {name} already is {new_name}:{new_tag}@{digest}")
        else:
            path.write_text(new_text)
            print(f"{path}: {name} -> {new_name}:{new_tag}@{digest}")
        return 0

    fail(3, f"{path} has no `images:` entry with `name: {name}`")
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
