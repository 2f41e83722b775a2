"""The monitoring configuration: Prometheus's config, rules and promtool unit tests, Alertmanager's
config (all through the real promtool and amtool), and what those tools cannot know: every alert has
a severity of critical or warning, a summary, a description, a runbook_url that points at a heading
of docs/runbooks/alerts.md, and a promtool test that names it.

amtool 0.25 `check-config` does not open `api_url_file` (the chat webhook secret is read only when a
notification is sent), so the committed config is checked as it is, without the secret."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from checks.findings import Findings

# An alert's runbook_url: the section of a runbook under docs/runbooks/ whose heading is its name.
REPOSITORY_URL = "https://github.com/echodiary/echodiary-backend/blob/main/"
RUNBOOK_URL = re.compile(re.escape(REPOSITORY_URL) + r"(docs/runbooks/[\w-]+\.md)#(.+)")
SEVERITIES = {"critical", "warning"}


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation other than - and _ dropped, spaces as dashes."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def run_tool(found: Findings, *command: str) -> str | None:
    """The tool's output; None, and a finding, when it is not installed or fails."""
    if shutil.which(command[0]) is None:
        found.add(command[0], "not installed (Debian: apt-get install prometheus prometheus-alertmanager)")
        return None
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        found.add(" ".join(command[:3]), (result.stdout + result.stderr).strip())
        return None
    return result.stdout


def alerts(rule_files: list[Path]) -> list[dict]:
    return [rule for path in rule_files
            for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", [])
            for rule in group.get("rules", []) if "alert" in rule]


def check_alert_metadata(root: Path, rule_files: list[Path], test_files: list[Path], found: Findings) -> int:
    rules = alerts(rule_files)
    tested = {case.get("alertname") for path in test_files
              for test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("tests", [])
              for case in test.get("alert_rule_test", [])}
    for rule in rules:
        name, labels, annotations = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            found.add(name, f"label severity must be critical or warning (is: {labels.get('severity')})")
        for key in ("summary", "description"):
            if not annotations.get(key):
                found.add(name, f"no {key} annotation")
        if name not in tested:
            found.add(name, f"no promtool test names it (alertname: {name}) in prometheus/tests/")
        url = RUNBOOK_URL.fullmatch(annotations.get("runbook_url") or "")
        if not url or url[2] != name.lower():
            found.add(name, f"runbook_url is {annotations.get('runbook_url')}, expected "
                            f"{REPOSITORY_URL}docs/runbooks/<runbook>.md#{name.lower()}")
            continue
        runbook = root / url[1]
        headings = re.findall(r"^##\s+(.+)$", runbook.read_text(encoding="utf-8") if runbook.is_file() else "", re.M)
        if name.lower() not in map(github_anchor, headings):
            found.add(name, f"#{name.lower()} is not a heading of {url[1]} (add: ## {name})")
    if not rules:
        found.add("prometheus/rules", "no alerts at all")
    return len(rules)


def check(root: Path) -> Findings:
    found = Findings("monitoring configuration")
    rule_files = sorted((root / "prometheus/rules").glob("*.yml"))
    test_files = sorted((root / "prometheus/tests").glob("*.yml"))
    if not rule_files or not test_files:
        found.add("prometheus", "no rule files in prometheus/rules/ or no promtool tests in prometheus/tests/")
        return found
    run_tool(found, "promtool", "check", "config", str(root / "prometheus/prometheus.yml"))
    run_tool(found, "promtool", "check", "rules", *map(str, rule_files))
    run_tool(found, "promtool", "test", "rules", *map(str, test_files))
    run_tool(found, "amtool", "check-config", str(root / "alertmanager/alertmanager.yml"))
    count = check_alert_metadata(root, rule_files, test_files, found)
    found.summary = f"{count} alerts, each with a runbook section and a promtool test"
    return found
