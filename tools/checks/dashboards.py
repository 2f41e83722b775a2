"""The Grafana dashboards, without a Grafana server:

1. Grafana's published schema: each dashboard must satisfy dashboard_schema/types.ts under
   `tsc --noEmit` (npm @grafana/schema, pinned in tools/package.json), which also names the panel
   types this project uses; errors point at lines of the JSON file.
2. This project's rules: a title and fixed uid, unique panel ids and titles, a layout inside the
   24-column grid with no overlaps, every panel, target and variable querying through the
   `${datasource}` variable, every target a PromQL `expr`, no hard-coded `instance`, and every panel
   title the runbooks refer to.
3. Every `expr`, with Grafana's variables substituted the way the live-stack test does, parses as
   PromQL (`promtool check rules`)."""

import json
import re
import shutil
import subprocess
import tempfile
from functools import partial
from pathlib import Path

import yaml

from checks.findings import Findings

TOOLS = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).with_name("dashboard_schema") / "types.ts"
# Panel titles the runbooks and alerts refer to, by dashboard uid. Renaming one breaks a runbook.
REQUIRED_TITLES = {
    "echodiary-overview": [
        "Requests per second by route", "Latency p50 / p95 / p99", "5xx error rate",
        "DB pool in use vs ceiling", "PostgreSQL connections vs max_connections", "Scrape target health",
        "Running version", "Slow queries (p95 by operation)", "Readiness", "Email deliveries by outcome (15m)",
        # docs/runbooks/delivery.md
        "Deployments per day", "Aborted or failed rollouts", "Time to recover", "Version running per environment",
    ],
}
MIN_SCHEMA_VERSION = 39
DATASOURCE_REFS = {"${datasource}", "$datasource"}
INSTANCE_VALUE = re.compile(r"^\$\{?instance(:[a-z]+)?\}?$")
INSTANCE_MATCHER = re.compile(r"""\binstance\s*(=~|!~|!=|=)\s*("((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|`([^`]*)`)""")
# What the live-stack test (tests/stack/) substitutes for Grafana's variables before it runs each expr.
SUBSTITUTIONS = {"__rate_interval": "1m", "__interval": "1m", "__range": "5m", "job": "echodiary",
                 "instance(:[a-z]+)?": ".*"}
NON_WORD = re.compile(r"\W")
TSC_ERROR = re.compile(r"^(?:.*[\\/])?dashboard\.ts\((\d+),(\d+)\): error (TS\d+): (.*)$")
PREFIX = "import type { CheckedDashboard } from './types'; export const dashboard = "


def is_variable_ref(ds) -> bool:
    return isinstance(ds, dict) and ds.get("uid") in DATASOURCE_REFS


def walk(value, at="$"):
    yield value, at
    for key, item in enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ():
        yield from walk(item, f"{at}[{key}]" if isinstance(value, list) else f"{at}.{key}")


def all_panels(dash):
    """(panel, where, nested in a collapsed row) for every panel, rows' panels included."""
    for i, panel in enumerate(dash.get("panels") or []):
        yield panel, f"panels[{i}]", False
        if isinstance(panel, dict) and panel.get("type") == "row":
            yield from ((inner, f"panels[{i}].panels[{j}]", True) for j, inner in enumerate(panel.get("panels") or []))


def lint_dashboard(dash: dict, add) -> None:
    if not str(dash.get("title", "")).strip():
        add("the dashboard has no title")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(dash.get("uid", ""))):
        add("the dashboard needs a fixed uid (1-40 of A-Z a-z 0-9 _ -)")
    if not (isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= MIN_SCHEMA_VERSION):
        add(f"schemaVersion must be {MIN_SCHEMA_VERSION} or later (current Grafana)")
    variables = (dash.get("templating") or {}).get("list") or []
    ds_var = next((v for v in variables if v.get("name") == "datasource"), {})
    if ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        add('templating needs a variable "datasource" of type datasource with query "prometheus"')
    for i, var in enumerate(variables):
        if var.get("type") == "query" and not is_variable_ref(var.get("datasource")):
            add(f'templating.list[{i}] "{var.get("name")}": must query through the ${{datasource}} variable')
        current = (var.get("current") or {}).get("value", [])
        if var.get("name") == "instance" and (var.get("options") or set([current] if isinstance(current, str) else current) - {"$__all"}):
            add(f'templating.list[{i}] "instance": stores concrete instances; leave it on All with no saved options')
    for value, at in walk(dash):
        ds = value.get("datasource") if isinstance(value, dict) else None
        if isinstance(ds, dict) and ds.get("type") == "prometheus" and not is_variable_ref(ds):
            add(f'{at}.datasource: hard-coded uid {json.dumps(ds.get("uid"))}; use {{"type": "prometheus", "uid": "${{datasource}}"}}')
        for m in INSTANCE_MATCHER.finditer(value) if isinstance(value, str) else ():
            if not INSTANCE_VALUE.match(next(g for g in m.groups()[2:] if g is not None)):
                add(f'{at}: hard-coded instance matcher {m.group(0)}; use instance=~"$instance"')


def lint_panels(dash: dict, add) -> None:
    ids, titles, placed = {}, {}, []
    for panel, at, nested in all_panels(dash):
        where, title, grid = f'{at} id {panel.get("id")} "{panel.get("title", "")}"', panel.get("title"), panel.get("gridPos") or {}
        if not isinstance(panel.get("id"), int):
            add(f"{where}: id must be an integer")
        elif panel["id"] in ids:
            add(f"{where}: duplicate panel id {panel['id']} (also {ids[panel['id']]})")
        else:
            ids[panel["id"]] = at
        if not isinstance(title, str) or not title.strip():
            add(f"{where}: panel has no title")
        elif panel.get("type") != "row":
            if title in titles:
                add(f"{where}: duplicate panel title (also {titles[title]})")
            titles[title] = at
        x, y, w, h = box = [grid.get(k) for k in ("x", "y", "w", "h")]
        if not all(isinstance(v, int) for v in box):
            add(f"{where}: gridPos needs integer x, y, w, h")
        elif x < 0 or y < 0 or w < 1 or h < 1 or x + w > 24:
            add(f"{where}: gridPos {grid} is outside the 24-column grid")
        elif not nested:
            for other in (o for (ox, oy, ow, oh), o in placed if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h):
                add(f"{where}: gridPos overlaps {other}")
            placed.append((box, where))
        if panel.get("type") == "row" and not panel.get("collapsed") and panel.get("panels"):
            add(f"{where}: an expanded row keeps its panels at the top level, not in row.panels")
        elif panel.get("type") != "row" and (panel.get("targets") or panel.get("type") != "text"):  # text needs no query
            lint_targets(panel, where, add)
    for title in REQUIRED_TITLES.get(dash.get("uid"), []):
        if title not in titles:
            add(f'missing required panel title "{title}" (the runbooks refer to it)')


def lint_targets(panel: dict, where: str, add) -> None:
    if not is_variable_ref(panel.get("datasource")):
        add(f"{where}: panel datasource must be the ${{datasource}} variable")
    if not panel.get("targets"):
        add(f"{where}: no targets")
    ref_ids = set()
    for i, target in enumerate(panel.get("targets") or []):
        if not target.get("refId") or target["refId"] in ref_ids:
            add(f"{where} targets[{i}]: no refId, or a duplicate one")
        ref_ids.add(target.get("refId"))
        if not is_variable_ref(target.get("datasource")):
            add(f"{where} targets[{i}]: target datasource must be the ${{datasource}} variable")
        if not str(target.get("expr", "")).strip():
            add(f'{where} targets[{i}]: every target must be a PromQL query in "expr"')


def type_check(text: str, add) -> None:
    """tsc over `<the JSON> satisfies CheckedDashboard`; the JSON starts on line 1, right after the
    prefix, so tsc's line numbers are the file's."""
    tsc = TOOLS / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.is_file():
        add(f"{tsc} is missing: run `npm ci --prefix tools` (just tools)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "node_modules").symlink_to(TOOLS / "node_modules")
        shutil.copy(SCHEMA, work / "types.ts")
        (work / "dashboard.ts").write_text(f"{PREFIX}{text.rstrip()} satisfies CheckedDashboard;\n", encoding="utf-8")
        (work / "tsconfig.json").write_text(json.dumps({"compilerOptions": {
            "strict": True, "noEmit": True, "target": "es2022", "lib": ["es2022"], "module": "esnext",
            "moduleResolution": "bundler", "skipLibCheck": True, "types": []},
            "files": ["types.ts", "dashboard.ts"]}), encoding="utf-8")
        run = subprocess.run(["node", str(tsc), "-p", str(work), "--pretty", "false"], capture_output=True, text=True)
    lines = [line.strip() for line in (run.stdout + run.stderr).splitlines() if line.strip() and not line.startswith(" ")]
    for line in lines:
        if m := TSC_ERROR.match(line):
            row, col = int(m[1]), int(m[2])
            add(f"{row}:{max(1, col - len(PREFIX)) if row == 1 else col}: {m[3]}: {m[4][:600]}")
        else:
            add(f"schema check failed: {line[:600]}")
    if run.returncode != 0 and not lines:
        add(f"schema check failed: tsc exited {run.returncode}")


def promql_check(dash: dict, add) -> None:
    groups = []
    for panel, _, _ in all_panels(dash):
        rules = [{"record": f"dashboard_check:panel_{panel.get('id')}_{NON_WORD.sub('_', str(t.get('refId')))}",
                  "expr": substitute(t["expr"])} for t in panel.get("targets") or [] if str(t.get("expr", "")).strip()]
        if rules:
            groups.append({"name": f"panel {panel.get('id')} {panel.get('title')!r} #{len(groups)}", "rules": rules})
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules_file:
        yaml.safe_dump({"groups": groups}, rules_file)
        rules_file.flush()
        run = subprocess.run(["promtool", "check", "rules", rules_file.name], capture_output=True, text=True)
    if run.returncode != 0:
        lines = [line.replace(f"{rules_file.name}: ", "").strip() for line in (run.stdout + run.stderr).splitlines()
                 if line.strip() and not re.match(r"^(Checking|\s*FAILED:|\s*SUCCESS)", line)]
        for line in lines or ["promtool check rules failed"]:
            add(f"PromQL: {line[:600]}")


def substitute(expr: str) -> str:
    """An expr with Grafana's variables replaced as the live-stack test (tests/stack/) runs it."""
    for name, value in SUBSTITUTIONS.items():
        expr = re.sub(rf"\$\{{?{name}\}}?", value, expr)
    return expr


def check(files: list[Path]) -> Findings:
    found, uids = Findings("dashboards"), {}
    for path in files:
        text, add = path.read_text(encoding="utf-8"), partial(found.add, path.name)
        try:
            dash = json.loads(text)
        except json.JSONDecodeError as error:
            add(f"{error.lineno}: invalid JSON: {error.msg}")
            continue
        if not isinstance(dash, dict):
            add("not a JSON object")
            continue
        if dash.get("uid") in uids:
            add(f"uid {dash['uid']} is also used by {uids[dash['uid']]}")
        uids.setdefault(dash.get("uid"), path.name)
        for step in (lint_dashboard, lint_panels, promql_check):
            step(dash, add)
        type_check(text, add)
    found.summary = f"{len(files)} dashboard(s): Grafana schema, project rules, PromQL"
    return found
