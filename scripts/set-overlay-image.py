#!/usr/bin/env python3
"""Points a kustomization's `images:` entry at a new image, by digest, the GitOps way:

    scripts/set-overlay-image.py KUSTOMIZATION NAME NEW_NAME NEW_TAG DIGEST
    scripts/set-overlay-image.py --self-test

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
--self-test runs the script on scratch files (`python -m checks deploy` runs it too).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import tempfile
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
    if argv[1:] == ["--self-test"]:
        return self_test()
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


# ------------------------------------------------------------------------------------------ self-test

DIGEST_A = "sha256:" + "a1" * 32
SHA = "0123456789abcdef0123456789abcdef01234567"
HEADER = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
# (name, file before, arguments after the file name, expected exit status, file after (None: unchanged))
CASES = [
    ("placeholder replaced, comments and other entries kept",
     HEADER + "# the image\nimages:\n  - name: other\n    newTag: \"1.2\"\n  - name: echodiary  # CI\n"
     "    newName: ghcr.io/example/old\n    newTag: \"" + "0" * 40 + "\"\n    digest: " + PLACEHOLDER_DIGEST +
     "\n\npatches: []\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 0,
     HEADER + "# the image\nimages:\n  - name: other\n    newTag: \"1.2\"\n  - name: echodiary  # CI\n"
     "    newName: ghcr.io/example/app\n    newTag: \"" + SHA + "\"\n    digest: " + DIGEST_A +
     "\n\npatches: []\n"),
    ("digest added to an entry that had none",
     HEADER + "images:\n- name: echodiary\n  newName: ghcr.io/example/app\n  newTag: v1\n# after\nresources: []\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 0,
     HEADER + "images:\n- name: echodiary\n  newName: ghcr.io/example/app\n  newTag: \"" + SHA + "\"\n"
     "  digest: " + DIGEST_A + "\n# after\nresources: []\n"),
    ("every key added to a bare entry, a quoted name",
     HEADER + "images:\n  - name: \"echodiary\"\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 0,
     HEADER + "images:\n  - name: \"echodiary\"\n    newName: ghcr.io/example/app\n    newTag: \"" + SHA + "\"\n"
     "    digest: " + DIGEST_A + "\n"),
    ("already there: unchanged",
     HEADER + "images:\n  - name: echodiary\n    newName: ghcr.io/example/app\n    newTag: \"" + SHA + "\"\n"
     "    digest: " + DIGEST_A + "\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 0, None),
    ("no entry of that name", HEADER + "images:\n  - name: other\n    newTag: v1\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 3, None),
    ("flow-style images list", HEADER + "images: [{name: echodiary, newTag: v1}]\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A], 3, None),
    ("a short digest", HEADER + "images:\n  - name: echodiary\n",
     ["echodiary", "ghcr.io/example/app", SHA, "sha256:abc"], 2, None),
    ("an upper-case digest", HEADER + "images:\n  - name: echodiary\n",
     ["echodiary", "ghcr.io/example/app", SHA, DIGEST_A.upper().replace("SHA256", "sha256")], 2, None),
    ("the placeholder digest", HEADER + "images:\n  - name: echodiary\n",
     ["echodiary", "ghcr.io/example/app", SHA, PLACEHOLDER_DIGEST], 2, None),
    ("no digest argument", HEADER + "images:\n  - name: echodiary\n",
     ["echodiary", "ghcr.io/example/app", SHA], 2, None),
    ("a bad tag", HEADER + "images:\n  - name: echodiary\n",
     ["echodiary", "ghcr.io/example/app", "v1:2", DIGEST_A], 2, None),
]


def self_test() -> int:
    wrong = 0
    with tempfile.TemporaryDirectory() as scratch:
        for index, (title, before, args, want_status, after) in enumerate(CASES):
            path = Path(scratch) / f"case-{index}.yaml"
            path.write_text(before)
            output = io.StringIO()
            status = 0
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                try:
                    status = main(["set-overlay-image.py", str(path), *args])
                except SystemExit as exit_:
                    status = exit_.code if isinstance(exit_.code, int) else 1
            got = path.read_text()
            expected = before if after is None else after
            ok = status == want_status and got == expected
            wrong += not ok
            print(f"  {'ok   ' if ok else 'WRONG'}  {title}: exit {status}"
                  f"{'' if ok else f', expected {want_status}'}")
            if not ok:
                print(f"    output: {output.getvalue().strip()}")
                if got != expected:
                    print("    file:\n" + "".join(f"      |{line}\n" for line in got.splitlines()))
    print(f"set-overlay-image self-test: {len(CASES) - wrong} of {len(CASES)} cases as expected")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
