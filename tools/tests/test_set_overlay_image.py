"""scripts/set-overlay-image.py (CI's GitOps edit of the prod overlay) on scratch files: it sets the
image by digest keeping the rest of the file, and refuses what would deploy nothing or the wrong
thing."""

import importlib.util

import pytest

from conftest import REPO

SPEC = importlib.util.spec_from_file_location("set_overlay_image", REPO / "scripts" / "set-overlay-image.py")
tool = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tool)
PLACEHOLDER_DIGEST = tool.PLACEHOLDER_DIGEST

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


@pytest.mark.parametrize(("title", "before", "args", "want_status", "after"), CASES, ids=[c[0] for c in CASES])
def test_set_overlay_image(tmp_path, title, before, args, want_status, after):
    path = tmp_path / "kustomization.yaml"
    path.write_text(before)
    try:
        status = tool.main(["set-overlay-image.py", str(path), *args])
    except SystemExit as exit_:
        status = exit_.code
    assert status == want_status
    assert path.read_text() == (before if after is None else after)
