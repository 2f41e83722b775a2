"""Contract fuzzing: schemathesis generates requests from the service's own /openapi.json and checks
every answer (no 5xx; status codes, content types, headers and bodies as documented; invalid input
rejected), authenticated, against the real binary and PostgreSQL, a bounded number of examples per
operation (FUZZ_EXAMPLES, default 50).

One check is left out: positive_data_acceptance ("every schema-valid request succeeds"). Two rules of
the contract make schema-valid requests fail on purpose and no schema can express them: a `cursor` is
opaque (only values the API returned are valid; others are 422), and `If-Match` with a well-formed but
stale version is 412. The opposite check (invalid data is rejected) stays on.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import venv
from pathlib import Path

import pytest

from conftest import ROOT, Service, free_ports, login

REQUIREMENTS = Path(__file__).parent / "fuzz/requirements.txt"
CREDENTIALS = ("fuzz@example.com", "fuzzing password")
SERVER_ERROR_IN_LOG = re.compile(r'status=5\d\d|"status":5\d\d|panicked')


@pytest.fixture(scope="module")
def schemathesis() -> Path:
    """The pinned schemathesis, in a venv of its own under target/ (created once per pin)."""
    pin = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    home = ROOT / "target/tmp" / f"schemathesis-{pin}"
    if not (home / "bin/st").exists():
        venv.create(home, with_pip=True)
        subprocess.run([str(home / "bin/pip"), "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    return home / "bin/st"


@pytest.fixture(scope="module")
def fuzzed_service(binary, postgres, tmp_path_factory):
    # Login, registration and reset limits raised: the fuzzer's many failed logins would otherwise
    # lock its own address out of the routes it tests (the integration tests cover throttling). The
    # mail server is a closed port: resets still answer 202 (sending fails in the background).
    limits = ("LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", "LOGIN_MAX_FAILURES_PER_ACCOUNT",
              "LOGIN_MAX_FAILURES_PER_ADDRESS", "REGISTER_MAX_PER_ADDRESS", "PASSWORD_RESET_MAX_PER_ADDRESS",
              "PASSWORD_RESET_MAX_PER_EMAIL")
    service = Service(binary, postgres.url(), tmp_path_factory.mktemp("fuzz") / "service.log",
                      EMAIL__SMTP_URL=f"smtp://127.0.0.1:{free_ports(1)[0]}",
                      **{f"AUTH__{limit}": "1000000" for limit in limits})
    assert service.ready() == 200
    login(service.api, *CREDENTIALS)
    yield service
    service.stop()


# Logout ends the session of the token the fuzzer holds, after which every other operation would only
# meet 401: it is fuzzed on its own, with a token of its own.
@pytest.mark.parametrize("paths", [["--exclude-path", "/api/v1/auth/logout"], ["--include-path", "/api/v1/auth/logout"]],
                         ids=["every operation but logout", "logout"])
def test_every_answer_is_as_documented(paths, schemathesis, fuzzed_service, tmp_path):
    token = login(fuzzed_service.api, *CREDENTIALS, register=False)
    result = subprocess.run([
        str(schemathesis), "run", f"{fuzzed_service.api}/openapi.json", "--header", f"Authorization: Bearer {token}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--seed", "20261122",
        "--max-examples", os.environ.get("FUZZ_EXAMPLES", "50"), "--request-timeout", "10", "--warnings", "off",
        *paths], cwd=tmp_path, check=False)
    assert result.returncode == 0, "schemathesis found answers that break the contract (above)"


def test_the_service_logged_no_server_error(fuzzed_service):
    """The fuzzer sees each answer; the log shows whether anything went wrong behind one."""
    lines = fuzzed_service.log.read_text(errors="replace").splitlines()
    assert [line for line in lines if SERVER_ERROR_IN_LOG.search(line)] == []
