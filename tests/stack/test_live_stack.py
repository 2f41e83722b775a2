"""The monitoring stack, live, without Docker: PostgreSQL, the service, postgres_exporter,
Alertmanager and Prometheus (Debian packages) on loopback, with the repository's own Prometheus
configuration and rules, only addresses and ports substituted, while traffic runs on every route.

Through Prometheus's HTTP API: every target is up; every rule evaluates and every recording rule and
dashboard query returns data; no expression names a metric nobody exposes; no label value holds a raw
id; a deliberately slow statement shows up, normalised and named, in postgres_exporter's slowest
statements and in the slow-statement alert's annotation; stopping PostgreSQL makes the database alert
true and starting it again clears it. Argo CD's and Argo Rollouts' metrics, which only the cluster
has, come from a stand-in (argo_standin.py) scraped as the cluster scrapes them, so the Delivery row
and its rules are proven on data too; alerts may still name kube-state-metrics' metrics.

`just live-stack --keep` leaves the stack running for a person afterwards (Ctrl-C stops it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from argo_standin import JOBS, ArgoStandIn
from checks.dashboards import all_panels, substitute
from conftest import ROOT, Service, free_ports, http, login, wait_for

# Compose service addresses in prometheus/prometheus.yml, and the stand-in process for each.
COMPOSE_TARGETS = {"api:9000": "ops", "postgres-exporter:9187": "exporter", "localhost:9090": "prometheus",
                   "alertmanager:9093": "alertmanager"}
DATABASE_ALERT = "EchoDiaryDatabaseUnreachable"
RAW_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}|\d{6,}")
# Label names whose values are measurements or identities of the stack itself, not request data.
EXEMPT_LABELS = {"__name__", "le", "quantile", "instance", "version", "git_sha", "server"}
# Metrics only the in-cluster Prometheus scrapes: kube-state-metrics' (the backup alert). Argo CD's
# and Argo Rollouts' (the Delivery row) come from a stand-in here (argo_standin.py).
CLUSTER_ONLY_METRICS = re.compile(r"^kube_")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
                "unless", "inf", "nan", "e"}
TOOLS = ("prometheus", "prometheus-alertmanager", "prometheus-postgres-exporter")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: label matchers, strings, ranges and groupings removed."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    return {m.group(0) for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text)
            if not text[m.end():].lstrip().startswith("(") and m.group(0).lower() not in PROMQL_WORDS
            and not re.fullmatch(r"\d+[smhdwy]", m.group(0))}


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str, **params) -> dict | list:
        status, body = http("GET", f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}",
                            timeout=30)
        assert status == 200 and body.get("status") == "success", f"/api/v1/{path} {params}: {status} {body}"
        return body["data"]

    def query(self, expr: str) -> list:
        data = self.api("query", query=expr)
        return [data["result"]] if data["resultType"] == "scalar" else data["result"]


class Traffic(threading.Thread):
    """Requests on every route, failures included, until stopped; remembers unexpected answers.

    `pause` returns once the round in flight has finished, so a drill that stops PostgreSQL right
    after it never catches a request half-way through a round."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.api, self.stopped, self.paused, self.unexpected = api, threading.Event(), threading.Event(), []
        self.idle = threading.Event()

    def pause(self) -> None:
        self.paused.set()
        assert self.idle.wait(timeout=60), "the traffic did not finish its round within 60 s"

    def resume(self) -> None:
        self.idle.clear()
        self.paused.clear()

    def call(self, method, path, expect, body=None, token=None, headers=None):
        status, answer = http(method, self.api + path, body, token, headers)
        if status not in expect:
            self.unexpected.append(f"{method} {path} -> {status}: {str(answer)[:200]}")
        return answer

    def run(self) -> None:
        tokens = [login(self.api, f"live-{n}-{uuid.uuid4().hex[:8]}@example.com", "live stack password")
                  for n in range(3)]
        round_ = 0
        while not self.stopped.is_set():
            if self.paused.is_set():
                self.idle.set()
                self.call("GET", "/health/live", {200})
                time.sleep(0.5)
                continue
            round_ += 1
            token = tokens[round_ % len(tokens)]
            entry = self.call("POST", "/api/v1/entries", {201}, {"content": f"live {round_}", "tags": ["live"]}, token)
            path = f"/api/v1/entries/{entry['id'] if isinstance(entry, dict) else uuid.uuid4()}"
            self.call("GET", path, {200}, token=token)
            self.call("GET", "/api/v1/entries?limit=5&q=live", {200}, token=token)
            self.call("PATCH", path, {200}, {"title": "edited"}, token, {"If-Match": '"1"'})
            self.call("PATCH", path, {412}, {"title": "stale"}, token, {"If-Match": '"1"'})
            if round_ % 3 == 0:
                self.call("DELETE", path, {204}, token=token)
            self.call("GET", "/api/v1/users/me", {200}, token=token)
            self.call("GET", f"/api/v1/entries/{uuid.uuid4()}", {404}, token=token)
            self.call("GET", f"/no-such-page/{uuid.uuid4()}", {404})
            self.call("POST", "/api/v1/entries", {422}, {"content": ""}, token)
            self.call("POST", "/api/v1/auth/login", {401, 429}, {"email": "nobody@example.com", "password": "wrong"})
            self.call("GET", "/health", {200})
            time.sleep(0.2)


class Stack:
    def __init__(self, work: Path, service: Service, postgres) -> None:
        self.work, self.service, self.postgres = work, service, postgres
        self.ports = dict(zip(("exporter", "alertmanager", "prometheus", "argo"), free_ports(4), strict=True))
        self.argo = ArgoStandIn(self.ports["argo"])
        self.ports["ops"] = service.ops_port
        self.processes: list[subprocess.Popen] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def spawn(self, name: str, *argv: str, **env: str) -> None:
        with (self.work / f"{name}.log").open("wb") as out:
            self.processes.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.work,
                                                   env=dict(os.environ, **env), start_new_session=True))

    def prometheus_config(self) -> Path:
        """The repository's config and rules, with only the Compose addresses replaced."""
        shutil.copytree(ROOT / "prometheus", self.work / "prometheus")
        path = self.work / "prometheus/prometheus.yml"
        config = path.read_text()
        for compose, name in COMPOSE_TARGETS.items():
            assert compose in config, f"prometheus/prometheus.yml no longer scrapes {compose}: update this test"
            config = config.replace(compose, f"127.0.0.1:{self.ports[name]}")
        path.write_text(config + self.argo.scrape_jobs())
        return path

    def alertmanager_config(self) -> Path:
        """The repository's Alertmanager config; the chat webhook file points at a closed port."""
        webhook = self.work / "chat-webhook-url"
        webhook.write_text(f"http://127.0.0.1:{free_ports(1)[0]}/slack\n")
        config = (ROOT / "alertmanager/alertmanager.yml").read_text()
        path = self.work / "alertmanager.yml"
        path.write_text(re.sub(r"(api_url_file:\s*)\S+", lambda m: m.group(1) + str(webhook), config))
        return path

    def start(self) -> None:
        # As in Compose: the service's database (pg_stat_statements is there) and the repository's queries.
        exporter_dsn = f"{self.postgres.url()}?sslmode=disable"
        self.spawn("postgres-exporter", "prometheus-postgres-exporter",
                   f"--web.listen-address=127.0.0.1:{self.ports['exporter']}", DATA_SOURCE_NAME=exporter_dsn,
                   PG_EXPORTER_EXTEND_QUERY_PATH=str(ROOT / "postgres-exporter/queries.yaml"))
        self.spawn("alertmanager", "prometheus-alertmanager", f"--config.file={self.alertmanager_config()}",
                   f"--storage.path={self.work / 'alertmanager-data'}", "--cluster.listen-address=",
                   f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}")
        self.spawn("prometheus", "prometheus", f"--config.file={self.prometheus_config()}",
                   f"--storage.tsdb.path={self.work / 'prometheus-data'}",
                   f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}")
        for name, path in (("alertmanager", "/-/ready"), ("prometheus", "/-/ready"), ("exporter", "/metrics")):
            wait_for(name, lambda n=name, p=path: self.alive() and http("GET", self.url(n) + p)[0] == 200, 60)

    def alive(self) -> bool:
        exited = [(p.args[0], p.returncode) for p in self.processes if p.poll() is not None]
        assert not exited, f"exited: {exited} (logs in {self.work})"
        return True

    def stop(self) -> None:
        self.argo.stop()
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def stack(binary, postgres, tmp_path_factory, request):
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    assert not missing, f"not installed: {missing} (apt-get install {' '.join(TOOLS)})"
    work = tmp_path_factory.mktemp("stack")
    service = Service(binary, postgres.url(), work / "echodiary.log")
    assert service.ready() == 200, "the service did not get ready"
    running = Stack(work, service, postgres)
    running.start()
    traffic = Traffic(service.api)
    traffic.start()
    prometheus = Prometheus(running.url("prometheus"))
    wait_for("request rates in Prometheus", lambda: prometheus.query("route_method:http_server_requests:rate5m"),
             150, 5)
    for begin in (True, False):  # an aborted rollout, then its fix: time to recover has a value
        running.argo.incident(begin)
        time.sleep(35)  # two scrapes and rule evaluations (every 15 s)
    yield running, prometheus, traffic
    traffic.stopped.set()
    if request.config.getoption("--keep"):
        print(f"\nThe stack runs until Ctrl-C: API {service.api}/docs/, metrics {service.ops}/metrics, "
              f"Prometheus {running.url('prometheus')}, Alertmanager {running.url('alertmanager')}, "
              f"PostgreSQL {postgres.url()}, logs {work}/*.log", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    running.stop()
    service.stop()


def rules(prometheus: Prometheus) -> list[dict]:
    return [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every provisioned dashboard, variables substituted."""
    return [(panel.get("title", "?"), substitute(target["expr"]))
            for path in sorted((ROOT / "grafana/dashboards").glob("*.json"))
            for panel, _, _ in all_panels(json.loads(path.read_text()))
            for target in panel.get("targets", []) if target.get("expr")]


def test_every_target_is_up(stack):
    targets = stack[1].api("targets")["activeTargets"]
    assert [f"{t['scrapeUrl']}: {t['lastError']}" for t in targets if t["health"] != "up"] == []
    assert {"echodiary", "postgres", "prometheus", "alertmanager", *JOBS} <= {t["labels"]["job"] for t in targets}


def test_every_rule_evaluates_and_every_recording_rule_returns_data(stack):
    loaded = rules(stack[1])
    assert [r for r in loaded if r["type"] == "alerting"], "no alert rules loaded"
    assert [f"{r['name']}: {r.get('lastError')}" for r in loaded if r.get("health") != "ok"] == []
    assert [r["name"] for r in loaded if r["type"] == "recording" and not stack[1].query(r["name"])] == []


def test_every_dashboard_query_returns_data(stack):
    queries = dashboard_queries()
    assert queries, "no dashboard queries under grafana/dashboards"
    assert [f"{title}: {expr}" for title, expr in queries if not stack[1].query(expr)] == []


def test_no_expression_names_a_metric_nobody_exposes(stack):
    # ALERTS is Prometheus's own series of pending and firing alerts: it exists while one does.
    known = set(stack[1].api("label/__name__/values")) | {"ALERTS"}
    unknown = {f"panel {title}": metric_names(expr) - known for title, expr in dashboard_queries()}
    for rule in rules(stack[1]):
        missing = metric_names(rule["query"]) - known
        if rule["type"] == "alerting":
            missing = {name for name in missing if not CLUSTER_ONLY_METRICS.match(name)}
        unknown[f"rule {rule['name']}"] = missing
    assert {source: names for source, names in unknown.items() if names} == {}


def test_no_label_value_holds_a_raw_id(stack):
    series = stack[1].api("series", **{"match[]": ['{job="echodiary"}'], "start": time.time() - 600})
    assert sorted({f"{name}={value}" for labels in series for name, value in labels.items()
                   if name not in EXEMPT_LABELS and RAW_ID.search(value)}) == []
    routes = {labels["route"] for labels in series if "route" in labels}
    assert {"unmatched", "/api/v1/entries/{id}"} <= routes, routes


SLOW_STATEMENT_ALERT = "EchoDiarySlowStatement"
# 0.7 s a call, over the alert's 0.5 s. The alias is not part of the statement's identity (its queryid),
# but pg_stat_statements keeps the first text it saw, and on this new server that is this one.
SLOW_STATEMENT = "SELECT pg_sleep(0.7) AS live_stack_slow_statement"
# How pg_stat_statements stores it: the constant replaced, so no literal reaches a label.
SLOW_STATEMENT_NORMALISED = "SELECT pg_sleep($1) AS live_stack_slow_statement"


class SlowStatements(threading.Thread):
    """SLOW_STATEMENT through psql, in the service's database as its role, over and over until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopped, self.failures = url, threading.Event(), []

    def run(self) -> None:
        while not self.stopped.is_set():
            argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.url, *["-c", SLOW_STATEMENT] * 3]
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                self.failures.append(result.stderr.strip())
                return


def test_a_slow_statement_is_named_by_the_exporter_and_the_slow_statement_alert(stack):
    running, prometheus, _ = stack
    slow = SlowStatements(running.postgres.url())
    slow.start()
    try:
        (series,) = wait_for("the slow statement among postgres_exporter's slowest", lambda: prometheus.query(
            'pg_slow_statements_mean_seconds{query=~".*live_stack_slow_statement.*"}'), 120, 5)
        labels = series["metric"]
        assert labels["query"] == SLOW_STATEMENT_NORMALISED, labels
        assert re.fullmatch(r"-?\d+", labels["queryid"]), labels
        assert float(series["value"][1]) > 0.5, series

        def the_alert():
            return [alert for alert in prometheus.api("alerts")["alerts"]
                    if alert["labels"].get("alertname") == SLOW_STATEMENT_ALERT
                    and alert["labels"].get("queryid") == labels["queryid"]]

        (alert,) = wait_for(f"{SLOW_STATEMENT_ALERT} pending or firing for it", the_alert, 180, 5)
        assert alert["state"] in {"pending", "firing"}, alert
        assert alert["labels"]["query"] == SLOW_STATEMENT_NORMALISED, alert
        named = f"`{SLOW_STATEMENT_NORMALISED}` (queryid {labels['queryid']})"
        assert named in alert["annotations"]["description"], alert
        assert labels["queryid"] in alert["annotations"]["summary"], alert
    finally:
        slow.stopped.set()
        slow.join(timeout=30)
    assert slow.failures == []

    # Bounded, the service's own statements among them, none of the exporter's or the catalogs'.
    queries = [s["metric"]["query"] for s in prometheus.query("pg_slow_statements_calls_total")]
    assert 1 < len(queries) <= 10, queries
    assert any("entries" in query for query in queries), queries
    assert [query for query in queries if re.search(r"\bpg_(stat|settings|database|catalog)", query)] == []


def test_the_database_alert_fires_while_postgres_is_down_and_clears_after(stack):
    running, prometheus, traffic = stack
    (expr,) = [r["query"] for r in rules(prometheus) if r["name"] == DATABASE_ALERT]
    assert not prometheus.query(expr), f"{DATABASE_ALERT} is true before the drill"
    traffic.pause()
    running.postgres.control("stop")
    try:
        wait_for(f"{DATABASE_ALERT} to become true", lambda: prometheus.query(expr), 120, 5)
    finally:
        running.postgres.control("start")
    wait_for(f"{DATABASE_ALERT} to clear", lambda: not prometheus.query(expr), 120, 5)
    assert running.service.ready() == 200, "the service did not get ready again after PostgreSQL came back"
    traffic.resume()
    running.alive()
    assert running.service.process.poll() is None, "the service exited instead of recovering"


def test_traffic_met_only_expected_answers(stack):
    assert stack[2].unexpected == []
