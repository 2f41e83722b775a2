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
values, fails too: a scan of nothing proves nothing."""

import json
import re
from pathlib import Path

from checks.findings import Findings

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
    return "*" * len(value) if len(value) <= 4 else f"{value[:2]}{'*' * 6} ({len(value)} chars)"


class Needles:
    """The recorded values, indexed by their first MIN_CHARS characters: a line is checked in one
    pass whatever the number of values (a suite run records thousands of tokens)."""

    def __init__(self, values):
        self.by_prefix = {}
        for value in values:
            for form in {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
                self.by_prefix.setdefault(form[:MIN_CHARS], []).append((form, value))

    def find(self, line):
        """The values in a line, each once, in the order they occur."""
        return list({value: None for i in range(len(line) - MIN_CHARS + 1)
                     for form, value in self.by_prefix.get(line[i : i + MIN_CHARS], ()) if line.startswith(form, i)})


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
    return f"keys {','.join(sorted(set(record) | set(fields)))}; target {record.get('target', '?')}"


def check(directory: Path) -> Findings:
    found = Findings("test-suite log scan")
    if not directory.is_dir():
        found.add(str(directory), "is not a directory")
        return found
    value_files = sorted(directory.glob("sensitive-*.txt"))
    values = sorted({line for path in value_files for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                     if len(line) >= MIN_CHARS})
    needles, lines, leaked = Needles(values), 0, []
    log_files = sorted(p for p in directory.glob("*.log") if p.is_file())
    for path in log_files:
        with path.open(encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                lines += 1
                leaked += [(f"{path}:{number}", f"{kind}: {shown} ({shape(line)})")
                           for kind, shown in leaks(line.rstrip("\n"), needles)]
    for where, what in leaked[:MAX_REPORTED]:
        found.add(where, what)
    if len(leaked) > MAX_REPORTED:
        found.add(str(directory), f"... and {len(leaked) - MAX_REPORTED} more leaks")
    if not lines:
        found.add(str(directory), "no log lines to scan (did the suite run with this directory?)")
    elif not values:
        found.add(str(directory), "no sensitive values recorded (did the support helpers run?)")
    skipped = sorted(p.name + "/" for p in directory.iterdir() if p.is_dir())
    found.summary = (f"{len(log_files)} log files, {lines} lines, {len(values)} sensitive values (from {len(value_files)} "
                     f"files) in {directory}" + (f"; not scanned: {', '.join(skipped)}" if skipped else ""))
    return found
