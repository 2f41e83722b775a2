#!/usr/bin/env python3
"""Fails if any log line the test suite produced carries a secret, credential, email or diary text.

The suite (tests/api/support/suite_logs.rs) keeps every log line it produces in one directory:
`*.log` files from the in-process apps and from every child `echodiary` process, and
`sensitive-<pid>.txt` files listing the passwords, emails, tokens, secrets and diary text the
tests sent (one a line, only values of 8+ characters: short ones are common words that would
match by coincidence). This reads the top-level `*.log` files and fails on any line that contains:

  - a recorded sensitive value (also in its JSON-escaped form, as the JSON logs would write it);
  - an email address (not a URL's `user@host`, which is how a database URL names its role, nor
    a `no-reply@` sender, which is the service's own address in `echodiary config`);
  - a JWT-shaped token (`eyJ...` and two more base64url segments);
  - an argon2 PHC string (`$argon2...`);
  - a password-reset link's token (`token=` and 20+ base64url characters), whatever its value;
  - a PostgreSQL URL with a password (`postgres://user:pass@`), unless the password is a
    redaction placeholder such as `[redacted]`, which is what `echodiary config` prints.

Subdirectories are not read: a test that must produce a leak-shaped line on purpose writes under
`intentional/`. Findings print as file:line, the kind of leak and a masked value, never the
value itself (CI logs are widely readable). A directory without log lines, or without recorded
values, fails too: a scan of nothing proves nothing.

Usage: scan-test-logs.py DIR     scan DIR (exit 0 clean, 1 leaks or nothing to scan, 2 usage)
       scan-test-logs.py --self-test
"""

import json
import re
import sys
import tempfile
from pathlib import Path

USAGE = "usage: scan-test-logs.py DIR | --self-test"
MIN_CHARS = 8  # the same floor as tests/api/support/sensitive.rs
MAX_REPORTED = 200

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
ARGON2 = re.compile(r"\$argon2(?:id|i|d)?\$")
RESET_LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]{20,})")
PG_URL_PASSWORD = re.compile(r"postgres(?:ql)?://[^\s:/@\"'\\]*:([^\s@/\"'\\]+)@")
REDACTION_PLACEHOLDERS = {"[redacted]", "REDACTED", "redacted", "***", "xxxxx"}


def mask(value):
    """Enough to recognise which value it was, not enough to use it."""
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:2]}{'*' * 6} ({len(value)} chars)"


class Needles:
    """The recorded values, indexed by their first MIN_CHARS characters: a line is checked in one
    pass whatever the number of values (a suite run records thousands of tokens)."""

    def __init__(self, values):
        self.by_prefix = {}
        for value in values:
            forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
            for form in forms:
                self.by_prefix.setdefault(form[:MIN_CHARS], []).append((form, value))

    def find(self, line):
        found = []
        for i in range(len(line) - MIN_CHARS + 1):
            for form, value in self.by_prefix.get(line[i : i + MIN_CHARS], ()):
                if line.startswith(form, i) and value not in found:
                    found.append(value)
        return found


def leaks(line, needles):
    """(kind, masked value) for each leak in one line."""
    out = [("recorded sensitive value", mask(v)) for v in needles.find(line)]
    for m in EMAIL.finditer(line):
        if not line[: m.start()].endswith("://") and not m.group().startswith("no-reply@"):
            out.append(("email address", mask(m.group())))
    out += [("JWT-shaped token", mask(m.group())) for m in JWT.finditer(line)]
    out += [("argon2 hash", mask(line[m.start() : m.start() + 30])) for m in ARGON2.finditer(line)]
    out += [("reset link token", mask(m.group(1))) for m in RESET_LINK_TOKEN.finditer(line)]
    for m in PG_URL_PASSWORD.finditer(line):
        if m.group(1) not in REDACTION_PLACEHOLDERS:
            out.append(("PostgreSQL URL with a password", mask(m.group(1))))
    return out


def shape(line):
    """The keys of a JSON log line and its event name: enough to find the code that wrote it,
    no values (one of them leaks)."""
    try:
        record = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else record
    keys = sorted(set(record) | set(fields))
    return f"keys {','.join(keys)}; target {record.get('target', '?')}"


def read_values(directory):
    values, files = set(), 0
    for path in sorted(directory.glob("sensitive-*.txt")):
        files += 1
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if len(line) >= MIN_CHARS:
                values.add(line)
    return sorted(values), files


def scan(directory):
    """Returns (exit code, report lines)."""
    report = []
    if not directory.is_dir():
        return 2, [f"error: {directory} is not a directory"]
    values, value_files = read_values(directory)
    needles = Needles(values)
    log_files = sorted(p for p in directory.glob("*.log") if p.is_file())
    skipped = sorted(p.name + "/" for p in directory.iterdir() if p.is_dir())
    lines = 0
    findings = 0
    for path in log_files:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                lines += 1
                for kind, shown in leaks(line.rstrip("\n"), needles):
                    findings += 1
                    if findings <= MAX_REPORTED:
                        report.append(f"{path}:{number}: {kind}: {shown} ({shape(line)})")
    if findings > MAX_REPORTED:
        report.append(f"... and {findings - MAX_REPORTED} more")
    report.append(
        f"checked {len(log_files)} log files, {lines} lines, {len(values)} sensitive values "
        f"(from {value_files} files) in {directory}"
        + (f"; not scanned: {', '.join(skipped)}" if skipped else "")
    )
    if findings:
        report.append(f"FAIL: {findings} leaks in the test suite's logs")
        return 1, report
    if lines == 0:
        report.append("FAIL: no log lines to scan (did the suite run with this directory?)")
        return 1, report
    if not values:
        report.append("FAIL: no sensitive values recorded (did the support helpers run?)")
        return 1, report
    report.append("OK: no leaks")
    return 0, report


CLEAN_LOG = [
    '{"timestamp":"2026-01-01T00:00:00Z","level":"INFO","message":"serving",'
    '"public":"127.0.0.1:41234","ops":"127.0.0.1:41235"}',
    '{"level":"INFO","status":201,"latency_ms":3.2,"message":"request finished","span":'
    '{"method":"POST","route":"/api/v1/entries","request_id":"client-chosen-id-42"}}',
    '{"database":{"url":"postgres://app:[redacted]@db.internal:5432/echodiary"}}',
    "  2026-01-01T00:00:00Z  INFO connecting to postgres://postgres@127.0.0.1:5432/test_1",
    '{"level":"WARN","message":"rate limited","reason":"typo"}',
    '{"email":{"smtp_url":null,"from":"EchoDiary <no-reply@echodiary.localhost>"}}',
]
SECRET = "correct horse battery"
QUOTED = 'say "hello" diary'
LEAKS = [
    ("recorded sensitive value", f'{{"message":"login","password":"{SECRET}"}}'),
    ("recorded sensitive value", '{"content":' + json.dumps(QUOTED) + "}"),
    ("email address", '{"message":"register","who":"grace.hopper+x@mail.example.com"}'),
    ("JWT-shaped token", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"),
    ("argon2 hash", "hash=$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"),
    ("PostgreSQL URL with a password", "connecting to postgresql://app:hunter2hunter2@db/app"),
    ("reset link token", "link=https://app.test/reset?token=Zm9vYmFyYmF6cXV4cXV1eA-_x"),
]


def self_test():
    failures = []

    def check(name, files, want_code, want_text=None, never=()):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for rel, lines in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            code, report = scan(root)
        text = "\n".join(report)
        if code != want_code or (want_text and want_text not in text):
            failures.append(f"{name}: exit {code}, want {want_code} with {want_text!r}:\n{text}")
        for secret in never:
            if secret in text:
                failures.append(f"{name}: the report prints {secret!r} unmasked:\n{text}")
        print(f"self-test: {name}: exit {code}")

    recorded = {"sensitive-1.txt": [SECRET, QUOTED, "typo", "hunter2hunter2"]}
    check("clean log", {**recorded, "app-1-0.log": CLEAN_LOG}, 0, "6 lines, 3 sensitive values")
    for kind, line in LEAKS:
        check(
            f"planted {kind}",
            {**recorded, "app-1-0.log": CLEAN_LOG, "child-1-3.log": ["started", line]},
            1,
            f"child-1-3.log:2: {kind}",
            never=[SECRET, QUOTED, "grace.hopper", "c2lnbmF0dXJl", "c2FsdHNhbHQ", "hunter2hunter2"],
        )
    check(
        "a leak under intentional/ is not scanned",
        {**recorded, "app-1-0.log": CLEAN_LOG, "intentional/child-1-1.log": [x for _, x in LEAKS]},
        0,
        "not scanned: intentional/",
    )
    check("empty directory", {}, 1, "no log lines")
    check("values but no log lines", {**recorded, "app-1-0.log": []}, 1, "no log lines")
    check("log lines but no values", {"app-1-0.log": CLEAN_LOG}, 1, "no sensitive values")
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        print(f"self-test FAILED: {len(failures)} cases", file=sys.stderr)
        return 1
    print("self-test passed")
    return 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    code, report = scan(Path(argv[0]))
    print("\n".join(report), file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
