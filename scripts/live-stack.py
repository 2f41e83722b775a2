#!/usr/bin/env python3
"""The monitoring stack, live, without Docker: PostgreSQL, the service, postgres_exporter,
Alertmanager and Prometheus (Debian packages) on loopback, using the repository's own Prometheus
configuration and rules with only addresses and ports substituted.

    scripts/live-stack.py            start it all, drive traffic, check, stop (what CI runs)
    scripts/live-stack.py --keep     the same, then leave it running for a person (Ctrl-C stops it)
    scripts/live-stack.py --keep --no-check   just start it and print where everything is

The check proves, through Prometheus's HTTP API, that every target is up; that every recording
rule, every dashboard panel query and every alert expression evaluates without error and names
only metrics that exist (except, in alerts, those of kube-state-metrics, which runs only in the
cluster); that every panel query and recording rule returns data; that no label value holds a raw
id; and that stopping PostgreSQL makes the database alert's expression true and restarting it
clears it. Everything listens on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
# Compose service addresses in prometheus/prometheus.yml and what stands in for them here.
COMPOSE_TARGETS = ("api:9000", "postgres-exporter:9187", "localhost:9090", "alertmanager:9093")
DATABASE_ALERT = "EchoDiaryDatabaseUnreachable"
UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
LONG_NUMBER = re.compile(r"\d{6,}")
# Label names whose values are measurements or identities of the stack itself, not request data.
EXEMPT_LABELS = {"__name__", "le", "quantile", "instance", "version", "git_sha", "server"}
# Metrics of exporters that run only in the cluster (deploy/k8s/monitoring): kube-state-metrics, for
# the backup alert. Alert rules over them must still load and evaluate here (to nothing), but their
# metrics cannot exist on loopback. Dashboards and recording rules get no such exemption.
CLUSTER_ONLY_METRICS = re.compile(r"^kube_")


def log(message: str) -> None:
    print(f"[live-stack] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, body=None, token=None, headers=None, timeout=10.0):
    """Returns (status, parsed JSON or text); never raises for HTTP error statuses."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
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


def wait_for(what: str, probe, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError as error:  # connection refused while a process starts
            last = error
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Stack:
    """The processes, their ports and a scratch directory, torn down together."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="echodiary-stack-"))
        # PostgreSQL may run as the postgres user (when this runs as root): it must reach its dir.
        self.work.chmod(0o755)
        self.ports = {name: free_port() for name in ("pg", "api", "ops", "exporter", "am", "prom")}
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pg_env = dict(os.environ, DEV_PG_DIR=str(self.work / "postgres"), PGPORT=str(self.ports["pg"]))
        self.database_url = ""

    # PostgreSQL, through the same script developers use.
    def postgres(self, action: str) -> str:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "dev-postgres.sh"), action],
            env=self.pg_env, capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"PostgreSQL {action} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> None:
        log_file = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=env or os.environ.copy(),
            cwd=self.work, start_new_session=True,
        )
        self.procs.append((name, proc))

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.work / f"{name}.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail}")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, binary: Path) -> None:
        log(f"scratch directory {self.work}")
        self.database_url = self.postgres("start").split("=", 1)[1]
        self.spawn("echodiary", [str(binary), "serve"], dict(
            os.environ,
            DATABASE_URL=self.database_url,
            ECHODIARY__SERVER__ADDR=f"127.0.0.1:{self.ports['api']}",
            ECHODIARY__SERVER__OPS_ADDR=f"127.0.0.1:{self.ports['ops']}",
            ECHODIARY__SERVER__SHUTDOWN_GRACE_MS="0",
            RUST_LOG=os.environ.get("RUST_LOG", "info"),
        ))
        exporter_dsn = self.database_url.rsplit("/", 1)[0] + "/postgres?sslmode=disable"
        self.spawn("postgres-exporter", [
            "prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{self.ports['exporter']}",
        ], dict(os.environ, DATA_SOURCE_NAME=exporter_dsn))
        self.spawn("alertmanager", [
            "prometheus-alertmanager", f"--config.file={self.alertmanager_config()}",
            f"--storage.path={self.work / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports['am']}", "--cluster.listen-address=",
        ])
        self.spawn("prometheus", [
            "prometheus", f"--config.file={self.prometheus_config()}",
            f"--storage.tsdb.path={self.work / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.ports['prom']}",
        ])
        for name, port, path in (("the service", "ops", "/health/ready"), ("Alertmanager", "am", "/-/ready"),
                                 ("Prometheus", "prom", "/-/ready"), ("postgres_exporter", "exporter", "/metrics")):
            wait_for(name, lambda p=port, q=path: (self.check_alive(), http("GET", self.url(p) + q)[0] == 200)[1], 60)
        log("all processes up")

    def prometheus_config(self) -> Path:
        """The repository's config and rules, with only the Compose addresses replaced."""
        target = self.work / "prometheus"
        shutil.copytree(ROOT / "prometheus", target)
        config = (target / "prometheus.yml").read_text()
        stand_ins = dict(zip(COMPOSE_TARGETS, (f"127.0.0.1:{self.ports[p]}" for p in ("ops", "exporter", "prom", "am")), strict=True))
        for compose, local in stand_ins.items():
            if compose not in config:
                raise SystemExit(f"prometheus/prometheus.yml no longer scrapes {compose}: update this check")
            config = config.replace(compose, local)
        (target / "prometheus.yml").write_text(config)
        return target / "prometheus.yml"

    def alertmanager_config(self) -> Path:
        """The repository's Alertmanager config; the chat webhook file points at a closed port."""
        webhook = self.work / "chat-webhook-url"
        webhook.write_text(f"http://127.0.0.1:{free_port()}/slack\n")
        config = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
        config = re.sub(r"(api_url_file:\s*)\S+", lambda m: m.group(1) + str(webhook), config)
        path = self.work / "alertmanager.yml"
        path.write_text(config)
        return path

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.postgres("stop") if (self.work / "postgres" / "data" / "postmaster.pid").exists() else None
        shutil.rmtree(self.work, ignore_errors=True)


class Traffic(threading.Thread):
    """Realistic requests on every route, including failures, until stopped."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self.requests = 0
        self.unexpected: list[str] = []

    def call(self, method, path, body=None, token=None, expect=None, headers=None):
        status, answer = http(method, self.api + path, body, token, headers)
        self.requests += 1
        if expect is not None and status not in expect:
            self.unexpected.append(f"{method} {path} -> {status}: {str(answer)[:200]}")
        return status, answer

    def run(self) -> None:
        users = []
        for n in range(3):
            email = f"live-{n}-{uuid.uuid4().hex[:8]}@example.com"
            self.call("POST", "/api/v1/auth/register", {"email": email, "password": "live stack password"}, expect={201})
            _, token = self.call("POST", "/api/v1/auth/login", {"email": email, "password": "live stack password"}, expect={200})
            users.append(token["access_token"])
        round_ = 0
        while not self.stop_event.is_set():
            if self.paused.is_set():
                self.call("GET", "/health/live", expect={200})
                time.sleep(0.5)
                continue
            round_ += 1
            token = users[round_ % len(users)]
            _, entry = self.call("POST", "/api/v1/entries", {
                "content": f"live entry {round_}", "mood": "good", "tags": ["live"],
            }, token, expect={201})
            entry_id = entry["id"] if isinstance(entry, dict) else str(uuid.uuid4())
            self.call("GET", f"/api/v1/entries/{entry_id}", token=token, expect={200})
            self.call("GET", "/api/v1/entries?limit=5&q=live", token=token, expect={200})
            self.call("PATCH", f"/api/v1/entries/{entry_id}", {"title": "edited"}, token,
                      expect={200}, headers={"If-Match": '"1"'})
            self.call("PATCH", f"/api/v1/entries/{entry_id}", {"title": "stale"}, token,
                      expect={412}, headers={"If-Match": '"1"'})
            if round_ % 3 == 0:
                self.call("DELETE", f"/api/v1/entries/{entry_id}", token=token, expect={204})
            self.call("GET", "/api/v1/users/me", token=token, expect={200})
            self.call("GET", f"/api/v1/entries/{uuid.uuid4()}", token=token, expect={404})
            self.call("GET", f"/no-such-page/{uuid.uuid4()}", expect={404})
            self.call("POST", "/api/v1/entries", {"content": ""}, token, expect={422})
            self.call("POST", "/api/v1/auth/login", {"email": "nobody@example.com", "password": "wrong"}, expect={401, 429})
            self.call("GET", "/health", expect={200})
            time.sleep(0.2)


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http("GET", f"{self.base}/api/v1/{path}?{query}", timeout=30)
        if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise SystemExit(f"Prometheus /api/v1/{path} {params}: {status} {str(body)[:500]}")
        return body["data"]

    def query(self, expr: str) -> list:
        data = self.api("query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [result]
        return result


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every provisioned dashboard, variables resolved."""
    substitutions = {
        r"\$\{?job\}?": "echodiary", r"\$\{?instance(?::\w+)?\}?": ".*",
        r"\$\{?__rate_interval\}?": "1m", r"\$\{?__interval\}?": "1m", r"\$\{?__range\}?": "5m",
    }
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    for pattern, value in substitutions.items():
                        expr = re.sub(pattern, value, expr)
                    found.append((panel.get("title", "?"), expr))
            walk(panel.get("panels", []))

    for path in sorted(DASHBOARDS.glob("*.json")):
        walk(json.loads(path.read_text()).get("panels", []))
    return found


PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
    "unless", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "inf", "nan", "atan2",
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label matchers, strings, ranges and groupings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue  # a function call or a keyword
        if re.fullmatch(r"\d+[smhdwy]", word) or word in {"e"}:
            continue
        names.add(word)
    return names


def check(stack: Stack, traffic: Traffic) -> None:
    prom = Prometheus(stack.url("prom"))

    log("waiting for two scrapes and a rule evaluation")
    wait_for("request rates in Prometheus",
             lambda: prom.query("route_method:http_server_requests:rate5m"), 150, 5)
    time.sleep(20)  # one more evaluation, so every rule has run on the same data

    targets = prom.api("targets")["activeTargets"]
    jobs = sorted({t["labels"]["job"] for t in targets})
    down = [f'{t["labels"]["job"]} {t["scrapeUrl"]}: {t["lastError"]}' for t in targets if t["health"] != "up"]
    assert not down, f"targets not up: {down}"
    assert {"echodiary", "postgres", "prometheus", "alertmanager"} <= set(jobs), jobs
    log(f"targets up: {', '.join(jobs)}")

    known = set(prom.api("label/__name__/values"))
    groups = prom.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    unhealthy = [f'{r["name"]}: {r.get("lastError")}' for r in rules if r.get("health") != "ok"]
    assert not unhealthy, f"rules failing to evaluate: {unhealthy}"
    recording = [r for r in rules if r["type"] == "recording"]
    alerts = [r for r in rules if r["type"] == "alerting"]
    assert recording and alerts, "no rules loaded"
    empty = [r["name"] for r in recording if not prom.query(r["name"])]
    assert not empty, f"recording rules without data: {empty}"
    log(f"{len(recording)} recording rules all return data; {len(alerts)} alert rules evaluate")

    unknown = {}
    alert_sources = {f'rule {r["name"]}' for r in alerts}
    panels = dashboard_queries()
    assert panels, "no dashboard queries found under grafana/dashboards"
    for source, expr in [(f'rule {r["name"]}', r["query"]) for r in rules] + [(f"panel {t}", e) for t, e in panels]:
        missing = metric_names(expr) - known
        if source in alert_sources:
            missing = {name for name in missing if not CLUSTER_ONLY_METRICS.match(name)}
        if missing:
            unknown[source] = sorted(missing)
    assert not unknown, f"expressions naming metrics nobody exposes: {json.dumps(unknown, indent=1)}"

    no_data = [f"{title}: {expr}" for title, expr in panels if not prom.query(expr)]
    assert not no_data, "dashboard queries without data:\n  " + "\n  ".join(no_data)
    log(f"{len(panels)} dashboard queries all return data and name only exposed metrics")

    series = prom.api("series", **{"match[]": ['{job="echodiary"}'], "start": time.time() - 600})
    leaks = sorted({f"{name}={value}" for labels in series for name, value in labels.items()
                    if name not in EXEMPT_LABELS and (UUID.search(value) or LONG_NUMBER.search(value))})
    assert not leaks, f"label values holding raw ids: {leaks[:20]}"
    routes = sorted({labels["route"] for labels in series if "route" in labels})
    assert "unmatched" in routes and "/api/v1/entries/{id}" in routes, routes
    log(f"{len(series)} service series, no raw id in any label; routes: {', '.join(routes)}")

    database_alert = next((r for r in alerts if r["name"] == DATABASE_ALERT), None)
    assert database_alert, f"no {DATABASE_ALERT} alert rule"
    expr = database_alert["query"]
    assert not prom.query(expr), f"{DATABASE_ALERT} is already true before the drill"
    log(f"stopping PostgreSQL; expecting {DATABASE_ALERT} ({expr}) to become true")
    traffic.paused.set()
    stack.postgres("stop")
    wait_for(f"{DATABASE_ALERT} to become true", lambda: prom.query(expr), 120, 5)
    log("it fired; starting PostgreSQL again")
    stack.postgres("start")
    wait_for(f"{DATABASE_ALERT} to clear", lambda: not prom.query(expr), 120, 5)
    traffic.paused.clear()
    log("it cleared without restarting the service")
    stack.check_alive()
    assert not traffic.unexpected, "unexpected answers:\n  " + "\n  ".join(traffic.unexpected[:20])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the stack running until Ctrl-C")
    parser.add_argument("--no-check", action="store_true", help="skip the checks (with --keep)")
    parser.add_argument("--binary", type=Path, help="the echodiary binary (default: cargo build)")
    args = parser.parse_args()

    for tool in ("prometheus", "prometheus-alertmanager", "prometheus-postgres-exporter"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install prometheus prometheus-alertmanager "
                             "prometheus-postgres-exporter)")
    binary = args.binary
    if binary is None:
        subprocess.run(["cargo", "build", "--quiet", "--bin", "echodiary"], cwd=ROOT, check=True)
        binary = ROOT / "target" / "debug" / "echodiary"

    stack = Stack()
    # Explicit handlers: a shell may start this in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start(binary)
        traffic = Traffic(stack.url("api"))
        traffic.start()
        if not args.no_check:
            check(stack, traffic)
            log("live-stack check passed")
        traffic.stop_event.set()
        if args.keep:
            print(f"""
The stack is running (Ctrl-C stops it and removes {stack.work}):
  API          {stack.url('api')}/api/v1/...
  API docs     {stack.url('api')}/docs/
  OpenAPI      {stack.url('api')}/openapi.json
  Metrics      {stack.url('ops')}/metrics
  Prometheus   {stack.url('prom')}  (alerts: {stack.url('prom')}/alerts)
  Alertmanager {stack.url('am')}
  Exporter     {stack.url('exporter')}/metrics
  PostgreSQL   {stack.database_url}
  Logs         {stack.work}/*.log
""", flush=True)
            while True:
                time.sleep(3600)
        return 0
    except AssertionError as failure:
        log(f"FAILED: {failure}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
