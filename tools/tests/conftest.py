"""Shared fixtures: a scratch copy of a repository folder with one planted fault, and the assertion
every planted-fault test makes."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class Planted:
    """A copy of a repository folder in which a test plants one fault."""

    def __init__(self, root: Path, *folders: str):
        """Copies each repository folder (or file) to the same relative path under `root`."""
        for folder in folders:
            source, copy = REPO / folder, root / folder
            if source.is_dir():
                shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".terraform"))
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, copy)
        self.root = root

    def replace(self, file: str, old: str, new: str) -> "Planted":
        path = self.root / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{file} no longer contains {old!r}: update the planted fault"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return self

    def sub(self, file: str, pattern: str, new: str) -> "Planted":
        path = self.root / file
        text, count = re.subn(pattern, new, path.read_text(encoding="utf-8"))
        assert count, f"{file} has no match for {pattern!r}: update the planted fault"
        path.write_text(text, encoding="utf-8")
        return self

    def git(self, *args: str) -> "Planted":
        subprocess.run(["git", "-C", str(self.root), *args], check=True, capture_output=True)
        return self

    def append(self, file: str, text: str) -> "Planted":
        path = self.root / file
        path.write_text((path.read_text(encoding="utf-8") if path.exists() else "") + text, encoding="utf-8")
        return self


def assert_found(problems: list[str], expected: str) -> None:
    """One of the check's findings says `expected`."""
    assert any(expected in p for p in problems), problems


def fails_on(copy, fault, problems_of) -> None:
    """Plants `fault`, a (plant it, expected finding) pair, in `copy` (a Planted repository, or a
    parsed file); problems_of(copy), the check's findings on it, must say the expected finding."""
    plant_fault, expected = fault
    plant_fault(copy)
    assert_found(problems_of(copy), expected)


@pytest.fixture
def plant(tmp_path):
    """plant("prometheus", "docs/runbooks/alerts.md") copies those into a scratch repository; the
    test then plants its fault in the copy (file names relative to the scratch repository)."""
    return lambda *folders: Planted(tmp_path / "repo", *folders)


DEPLOY = ("deploy", ".github", "Dockerfile", ".checkov.yaml", "scripts/set-overlay-image.py")


@pytest.fixture
def deploy_copy(plant):
    """A scratch repository with what the deploy check reads, committed to git (the release stage
    asks git what it ignores and tracks)."""
    def make() -> Planted:
        repo = plant(*DEPLOY)
        subprocess.run(["git", "init", "-q", str(repo.root)], check=True)
        subprocess.run(["git", "-C", str(repo.root), "add", "-A"], check=True)
        return repo
    return make
