"""What the stack tests share: the service binary, a throwaway PostgreSQL, a running service.

These tests drive the real `echodiary` binary and real servers on 127.0.0.1 (PostgreSQL through
scripts/dev-postgres.sh, as developers run it); every process they start stops with the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--binary", type=Path, help="the echodiary binary (default: cargo build)")
    parser.addoption("--keep", action="store_true", help="live stack: leave it running until Ctrl-C")


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together while choosing, so never the same twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def http(method: str, url: str, body=None, token=None, headers=None, timeout=10.0):
    """(status, parsed JSON or text); HTTP error statuses are answers, not exceptions."""
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(what: str, probe, timeout: float, interval: float = 0.5):
    """Polls `probe` until it returns something truthy; a refused connection counts as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError as error:
            last = error
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def login(api: str, email: str, password: str, register: bool = True) -> str:
    """An access token for the account, registering it first unless told otherwise."""
    credentials = {"email": email, "password": password}
    if register:
        status, body = http("POST", f"{api}/api/v1/auth/register", credentials)
        assert status == 201, f"register answered {status}: {body}"
    status, body = http("POST", f"{api}/api/v1/auth/login", credentials)
    assert status == 200, f"login answered {status}: {body}"
    return body["access_token"]


class Postgres:
    """A PostgreSQL of its own in `work`, through the same script developers use."""

    def __init__(self, work: Path) -> None:
        work.chmod(0o755)  # as root the server runs as the postgres user: it must reach its directory
        (self.port,) = free_ports(1)
        self.env = dict(os.environ, DEV_PG_DIR=str(work / "postgres"), PGPORT=str(self.port))
        self.server = f"postgres://postgres@127.0.0.1:{self.port}"
        self.running = False

    def control(self, action: str) -> None:
        result = subprocess.run(["bash", str(ROOT / "scripts/dev-postgres.sh"), action], env=self.env,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"PostgreSQL {action} failed: {result.stderr.strip()}"
        self.running = action == "start"

    def url(self, database: str = "echodiary") -> str:
        return f"{self.server}/{database}"


@pytest.fixture(scope="session")
def binary(request: pytest.FixtureRequest) -> Path:
    path = request.config.getoption("--binary")
    if path is None:
        subprocess.run(["cargo", "build", "--quiet", "--bin", "echodiary"], cwd=ROOT, check=True)
        path = ROOT / "target/debug/echodiary"
    assert os.access(path, os.X_OK), f"no executable service binary at {path}"
    return path.resolve()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # Not under pytest's temporary directory: as root the server runs as the postgres user, which
    # cannot enter that one (mode 0700).
    work = Path(tempfile.mkdtemp(prefix="echodiary-stack-"))
    server = Postgres(work)
    server.control("start")
    yield server
    if server.running:
        server.control("stop")
    shutil.rmtree(work, ignore_errors=True)


class Service:
    """`echodiary serve` on free loopback ports; its output goes to `log`."""

    def __init__(self, binary: Path, database_url: str, log: Path, **settings: str) -> None:
        self.api_port, self.ops_port = free_ports(2)
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.ops = f"http://127.0.0.1:{self.ops_port}"
        self.log = log
        env = dict(os.environ, DATABASE_URL=database_url, RUST_LOG=os.environ.get("RUST_LOG", "info"),
                   ECHODIARY__SERVER__ADDR=f"127.0.0.1:{self.api_port}",
                   ECHODIARY__SERVER__OPS_ADDR=f"127.0.0.1:{self.ops_port}",
                   ECHODIARY__SERVER__SHUTDOWN_GRACE_MS="0")
        env.update({f"ECHODIARY__{key.upper()}": value for key, value in settings.items()})
        with log.open("wb") as out:
            self.process = subprocess.Popen([str(binary), "serve"], stdout=out, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)

    def ready(self, timeout: float = 30) -> int:
        """Waits for /health/ready to answer 200, at most `timeout` seconds; returns the last status."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"the service exited: {self.log.read_text()[-2000:]}"
            try:
                status = http("GET", f"{self.ops}/health/ready")[0]
            except OSError:
                status = 0
            if status == 200 or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def serve(binary: Path, tmp_path: Path) -> Iterator:
    """serve(database_url, **settings) starts the service; every one started stops with the test."""
    started: list[Service] = []

    def start(database_url: str, **settings: str) -> Service:
        service = Service(binary, database_url, tmp_path / f"service-{len(started)}.log", **settings)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
