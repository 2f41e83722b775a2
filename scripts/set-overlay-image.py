#!/usr/bin/env python3
"""Points a kustomization's `images:` entry at a new image by digest, the GitOps way:

    scripts/set-overlay-image.py KUSTOMIZATION NAME NEW_NAME NEW_TAG DIGEST

sets `newName`, `newTag` (quoted) and `digest` (sha256:<64 hex>, of the multi-architecture index CI
pushed) on the block-style entry whose `name:` is NAME, keeping every other line and comment as it is
(`kustomize edit set image` rewrites the file and drops comments, kustomize#4481). kustomize then
writes `image: NEW_NAME:NEW_TAG@DIGEST`: nodes pull by digest, so what runs is what CI scanned. Only
the standard library: the CI job holding `contents: write` installs nothing. Exit 0 when the file
changed or already pointed there; 2 on bad usage, a missing file or the all-zero placeholder digest;
3 when there is no block-style `images:` entry named NAME (an entry matching no container would
change nothing, silently). Cases: tools/tests/test_set_overlay_image.py."""

import re
import sys
from pathlib import Path

KEY = re.compile(r"^(?P<lead> *(?:- +)?)(?P<key>[A-Za-z]\w*):(?P<rest>.*)$")
CHECKS = {"image name": r"[a-z0-9]+([._/:-][a-z0-9]+)*", "image tag": r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
          "image digest (sha256:<64 lowercase hex>)": r"sha256:[0-9a-f]{64}"}
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def fail(code: int, message: str) -> None:
    print(f"set-overlay-image: {message}", file=sys.stderr)
    sys.exit(code)


def scalar(rest: str) -> str:
    """The plain or quoted scalar after `key:`, without a trailing comment."""
    value = rest.strip()
    if value[:1] in ("'", '"'):
        return value[1:].split(value[0], 1)[0]
    return re.sub(r"\s+#.*$", "", value)


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        fail(2, "usage: set-overlay-image.py KUSTOMIZATION NAME NEW_NAME NEW_TAG DIGEST")
    path, name, new_name, new_tag, digest = Path(argv[1]), *argv[2:]
    for (what, pattern), value in zip(CHECKS.items(), (new_name, new_tag, digest), strict=True):
        if not re.fullmatch(pattern, value):
            fail(2, f"not an {what}: {value!r}")
    if digest == PLACEHOLDER_DIGEST:
        fail(2, "the all-zero digest is the overlay's placeholder, not an image")
    if not path.is_file():
        fail(2, f"{path} does not exist")
    text = path.read_text()
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^images:\s*(#.*)?$", line)), None)
    if start is None:
        fail(3, f"{path} has no top-level block-style `images:` list")
    # The block's list items (up to the next top-level key), each a list of its keys' line numbers.
    items, indent, end = [], None, start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "#", "-"))):
        match = KEY.match(lines[end])
        if match and "-" in match["lead"] and indent in (None, len(match["lead"])):
            indent = len(match["lead"])
            items.append([])
        if match and items:
            items[-1].append(end)
        end += 1
    for item in items:
        fields = {KEY.match(lines[i])["key"]: i for i in item}
        if "name" not in fields or scalar(KEY.match(lines[fields["name"]])["rest"]) != name:
            continue
        wanted = {"newName": new_name, "newTag": f'"{new_tag}"', "digest": digest}
        for key in wanted.keys() & fields.keys():
            lines[fields[key]] = f"{KEY.match(lines[fields[key]])['lead']}{key}: {wanted[key]}"
        inserts = [f"{' ' * indent}{key}: {value}" for key, value in wanted.items() if key not in fields]
        lines[item[-1] + 1 : item[-1] + 1] = inserts
        new_text = "\n".join(lines) + ("\n" if text.endswith("\n") or not text else "")
        verb = "already is" if new_text == text else "->"
        path.write_text(new_text)
        print(f"{path}: {name} {verb} {new_name}:{new_tag}@{digest}")
        return 0
    fail(3, f"{path} has no `images:` entry with `name: {name}`")
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
