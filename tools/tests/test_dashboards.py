"""The dashboard check passes the committed dashboards and rejects a copy with one planted fault:
Grafana's schema (through tsc), each project rule, and PromQL that does not parse."""

import json
import re

import pytest

from checks import dashboards
from conftest import REPO, assert_found, fails_on

DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
OVERVIEW = next(p for p in DASHBOARDS if json.loads(p.read_text())["uid"] == "echodiary-overview")


def panels(d):
    return [p for p, _, _ in dashboards.all_panels(d) if p.get("type") != "row"]


def targets(d):
    return [t for p in panels(d) for t in p.get("targets") or []]


def first(items, where=lambda _: True):
    found = [x for x in items if where(x)]
    assert found, "the dashboard has nothing to break for this case: update it"
    return found[0]


def with_instance(d):
    t = first(targets(d), lambda t: re.search(r'instance\s*=~\s*"\$\{?instance', t.get("expr", "")))
    t["expr"] = re.sub(r'instance\s*=~\s*"[^"]*"', 'instance="10.0.0.7:9000"', t["expr"])


def set_in(getter, key, value):
    def fault(d):
        getter(d)[key] = value
    return fault


def drop_expr(d):
    t = targets(d)[0]
    t["query"] = t.pop("expr")


def unclosed(d):
    t = first(targets(d), lambda t: t.get("expr", "").rstrip().endswith(")"))
    t["expr"] = t["expr"].rstrip()[:-1]


def overlapping(d):
    a, b = [p for p in panels(d) if p.get("gridPos")][:2]
    b["gridPos"] = dict(a["gridPos"])


def renamed(d):
    first(panels(d), lambda p: p.get("title") in dashboards.REQUIRED_TITLES["echodiary-overview"])["title"] += " (renamed)"


FAULTS = {
    "a field of the wrong type": (lambda d: first(panels(d), lambda p: p.get("gridPos"))["gridPos"].update(h="8"), "TS2322"),
    "an unknown top-level key": (set_in(lambda d: d, "refreshInterval", "30s"), "TS2353"),
    "a misspelled panel option": (lambda d: first(panels(d), lambda p: p["type"] == "timeseries").setdefault("options", {}).update(legnd={"showLegend": True}), "TS2353"),
    "a misspelled panel type": (set_in(lambda d: first(panels(d), lambda p: p["type"] == "timeseries"), "type", "timeseries2"), "Type '\"timeseries2\"' is not assignable to type '\"timeseries\" | \"stat\""),
    "a wrong enum value": (set_in(lambda d: first(panels(d), lambda p: "thresholds" in p.get("fieldConfig", {}).get("defaults", {}))["fieldConfig"]["defaults"]["thresholds"], "mode", "absolut"), "TS2820"),
    "a renamed required panel": (renamed, "missing required panel title"),
    "a duplicate panel id": (lambda d: panels(d)[1].update(id=panels(d)[0]["id"]), "duplicate panel id"),
    "a hard-coded instance": (with_instance, "hard-coded instance"),
    "a hard-coded datasource on a panel": (set_in(lambda d: first(panels(d), lambda p: p.get("datasource")), "datasource", {"type": "prometheus", "uid": "prometheus"}), "hard-coded uid"),
    "a hard-coded datasource on a target": (set_in(lambda d: targets(d)[0], "datasource", {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}), "target datasource must be"),
    "a target without expr": (drop_expr, 'PromQL query in "expr"'),
    "overlapping panels": (overlapping, "overlaps"),
    "PromQL that does not parse": (unclosed, "PromQL:"),
}


def test_the_committed_dashboards_pass():
    assert DASHBOARDS
    assert not dashboards.check(DASHBOARDS).problems


@pytest.mark.parametrize("fault", FAULTS)
def test_the_dashboard_check_rejects(tmp_path, fault):
    def problems(dash):
        (tmp_path / OVERVIEW.name).write_text(json.dumps(dash, indent=2), encoding="utf-8")
        return dashboards.check([tmp_path / OVERVIEW.name]).problems
    fails_on(json.loads(OVERVIEW.read_text(encoding="utf-8")), FAULTS[fault], problems)


def test_invalid_json_is_reported_with_its_line(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(OVERVIEW.read_text(encoding="utf-8").rstrip()[:-1], encoding="utf-8")
    assert_found(dashboards.check([broken]).problems, "invalid JSON")


def test_two_dashboards_with_one_uid_are_rejected(tmp_path):
    copies = [tmp_path / "a.json", tmp_path / "b.json"]
    for copy in copies:
        copy.write_text(OVERVIEW.read_text(encoding="utf-8"), encoding="utf-8")
    assert_found(dashboards.check(copies).problems, "is also used by")
