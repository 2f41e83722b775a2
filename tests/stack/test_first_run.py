"""The README's "Run it, test it" commands, as a new user runs them, on a machine without a system
PostgreSQL: every command runs in a mount namespace of its own where /usr/lib/postgresql is an empty
tmpfs, with no pg_ctl on PATH, so the dev database and the tests must fetch their private server.

In a fresh clone of this repository (sharing target/, so nothing is rebuilt from scratch):
1. the README's run line, twice in a row: it starts the service (ready on :9000) both times, and
   Ctrl-C (SIGINT to its process group) ends it with exit status 0; the second run finds PostgreSQL
   still running from the first and reuses it;
2. with the development DATABASE_URL exported, the README's test command (filtered to the health
   tests, to stay short): the development server sees no connection at all (its log records each
   one meanwhile), keeps the same databases and still runs.

Needs root or passwordless sudo (for the mount namespace), and ports 5432, 8000 and 9000 free.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, http

# Mounts an empty tmpfs over the system PostgreSQL, then runs the command (as the invoking user
# again, when sudo got us here: a new user is not root).
HIDE = 'mount -t tmpfs tmpfs /usr/lib/postgresql && exec "$@"'
# sudo resets PATH (secure_path) whatever it preserves, so PATH and HOME travel as arguments.
HIDE_AS_USER = (
    'mount -t tmpfs tmpfs /usr/lib/postgresql && user=$1 path=$2 home=$3 && shift 3 && '
    'exec runuser -u "$user" -- env PATH="$path" HOME="$home" "$@"'
)
UNSET = ("DATABASE_URL", "PG_BIN", "ECHODIARY_TEST_PG_BIN", "ECHODIARY_TEST_DATABASE_URL", "PGPORT")
READY = "http://127.0.0.1:9000/health/ready"


def hidden(*argv: str, env: dict[str, str]) -> list[str]:
    """`argv` in a mount namespace of its own, /usr/lib/postgresql hidden."""
    unshare = ["unshare", "-m", "--propagation", "private", "sh", "-c"]
    if os.geteuid() == 0:
        return [*unshare, HIDE, "sh", *argv]
    user = [getpass.getuser(), env["PATH"], env["HOME"]]
    return ["sudo", "--preserve-env", *unshare, HIDE_AS_USER, "sh", *user, *argv]


def readme_commands() -> tuple[str, str]:
    """The run line and the test line of the README's "Run it, test it" block, comments removed."""
    section = (ROOT / "README.md").read_text().split("## Run it, test it", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [re.sub(r"\s+#.*$", "", line) for line in block.splitlines()]
    run = next(line for line in lines if "cargo run" in line)
    test = next(line for line in lines if line.startswith("cargo test"))
    return run, test


@pytest.fixture(scope="module")
def clone():
    for port in (5432, 8000, 9000):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is taken: the README's commands need it"
    work = Path(tempfile.mkdtemp(prefix="echodiary-first-run-"))
    work.chmod(0o755)  # the dev server may run as the postgres user
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "echodiary")], check=True)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "pg_ctl").exists())
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env["PATH"] = path
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target"))
    yield work / "echodiary", env
    subprocess.run(hidden("bash", "scripts/dev-postgres.sh", "reset", env=env), cwd=work / "echodiary", env=env,
                   capture_output=True, check=False)
    shutil.rmtree(work, ignore_errors=True)


def test_the_system_postgresql_is_hidden_from_each_command(clone):
    _, env = clone
    found = subprocess.run(hidden("find", "/usr/lib/postgresql", "-name", "pg_ctl", env=env), env=env,
                           capture_output=True, text=True, check=True)
    assert found.stdout == ""


@pytest.mark.parametrize("round_", [1, 2], ids=["first run", "second run, PostgreSQL still up"])
def test_the_run_line_serves_and_ctrl_c_exits_0(round_, clone, tmp_path):
    checkout, env = clone
    run_line, _ = readme_commands()
    log = tmp_path / f"run-{round_}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(hidden("setsid", "bash", "-c", run_line, env=env), cwd=checkout, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not _ready():
        assert process.poll() is None, f"the run line exited before the service was ready:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "not ready after 5 minutes"
        time.sleep(0.5)
    _interrupt()
    assert process.wait(timeout=60) == 0, f"exit status after Ctrl-C:\n{log.read_text()[-3000:]}"


def test_cargo_test_leaves_the_development_server_untouched(clone):
    checkout, env = clone
    _, test_line = readme_commands()
    dev = ["bash", "scripts/dev-postgres.sh"]
    # Running since the run line started it; started here when this test runs on its own.
    subprocess.run(hidden(*dev, "start", env=env), cwd=checkout, env=env, capture_output=True, check=True)
    subprocess.run(hidden(*dev, "stop", env=env), cwd=checkout, env=env, check=True)
    data = checkout / ".dev/postgres/data"
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("log_connections = on\n")
    started = subprocess.run(hidden(*dev, "start", env=env), cwd=checkout, env=env, capture_output=True, text=True, check=True)
    env = dict(env, DATABASE_URL=started.stdout.strip().removeprefix("export DATABASE_URL="))
    server_log = checkout / ".dev/postgres/server.log"
    databases, offset = sorted(os.listdir(data / "base")), len(server_log.read_text().splitlines())
    subprocess.run(hidden(*test_line.split(), "--test", "api", "health", env=env), cwd=checkout, env=env, check=True)
    connections = [line for line in server_log.read_text().splitlines()[offset:] if "connection received" in line]
    assert connections == [], "the tests connected to the development server"
    assert sorted(os.listdir(data / "base")) == databases, "the tests changed the development server's databases"
    status = subprocess.run(hidden(*dev, "status", env=env), cwd=checkout, env=env, capture_output=True, text=True, check=False)
    assert "running" in status.stdout + status.stderr


def _ready() -> bool:
    try:
        return http("GET", READY, timeout=2)[0] == 200
    except OSError:
        return False


def _interrupt() -> None:
    """Ctrl-C: SIGINT to the foreground process group, the one `setsid` gave the run line (the
    shell, cargo and the service), found through the process listening on :9000."""
    listening = subprocess.run(["ss", "-H", "-ltnp", "sport = :9000"], capture_output=True, text=True, check=True)
    pid = int(re.search(r"pid=(\d+)", listening.stdout).group(1))
    os.killpg(os.getpgid(pid), signal.SIGINT)
