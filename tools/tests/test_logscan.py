"""The test-log scan finds each kind of leak planted in a log line, never prints the leaked value,
skips intentional/, and refuses to pass a scan of nothing."""

import shutil
from pathlib import Path

import pytest

from checks.logscan import check
from conftest import assert_found

FIXTURES = Path(__file__).parent / "fixtures" / "logscan"
LEAKS = [line.split("\t", 1) for line in (FIXTURES / "leaks.tsv").read_text(encoding="utf-8").splitlines()]
# Fragments of the planted values that a report must never print.
NEVER_PRINTED = ["correct horse", "hello", "grace.hopper", "c2lnbmF0dXJl", "c2FsdHNhbHQ", "hunter2hunter2"]


@pytest.fixture
def logs(tmp_path):
    """A suite-log directory with the recorded values and a clean app log."""
    shutil.copy(FIXTURES / "sensitive.txt", tmp_path / "sensitive-1.txt")
    shutil.copy(FIXTURES / "clean-app-log.txt", tmp_path / "app-1-0.log")
    return tmp_path


def test_a_clean_log_passes(logs):
    found = check(logs)
    assert not found.problems
    assert "6 lines, 3 sensitive values" in found.summary


@pytest.mark.parametrize(("kind", "line"), LEAKS, ids=[kind for kind, _ in LEAKS])
def test_a_planted_leak_fails_the_scan_without_printing_it(logs, kind, line):
    (logs / "child-1-3.log").write_text(f"started\n{line}\n", encoding="utf-8")
    found = check(logs)
    assert_found(found.problems, f"child-1-3.log:2: {kind}")
    text = "\n".join([*found.problems, found.summary])
    assert not [fragment for fragment in NEVER_PRINTED if fragment in text]


def test_leaks_under_intentional_are_not_scanned(logs):
    (logs / "intentional").mkdir()
    (logs / "intentional" / "child-1-1.log").write_text("\n".join(line for _, line in LEAKS), encoding="utf-8")
    found = check(logs)
    assert not found.problems
    assert "not scanned: intentional/" in found.summary


@pytest.mark.parametrize(
    ("files", "message"),
    [({}, "no log lines"), ({"sensitive-1.txt": "a-recorded-value\n", "app-1-0.log": ""}, "no log lines"),
     ({"app-1-0.log": "a line\n"}, "no sensitive values")],
    ids=["empty directory", "values but no log lines", "log lines but no values"])
def test_a_scan_of_nothing_fails(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert_found(check(tmp_path).problems, message)
