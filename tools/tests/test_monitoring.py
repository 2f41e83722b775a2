"""The monitoring check passes the committed configuration and fails on each planted fault: a
promtool or amtool error, and every rule about alerts that those tools cannot know."""

import pytest

from checks import monitoring
from conftest import fails_on

FILES = ("prometheus", "alertmanager", "docs/runbooks")
ALERTS = "prometheus/rules/alerts.yml"
RUNBOOK_ANCHOR = "alerts.md#echodiaryhighlatency"


def check(repo):
    return monitoring.check(repo.root).problems


def test_the_committed_configuration_passes(plant):
    assert not check(plant(*FILES))


FAULTS = {
    "a rule that does not parse": (lambda m: m.replace(ALERTS, "expr: job:http_server_errors:ratio_rate5m > 0.05", "expr: job:http_server_errors:ratio_rate5m > > 0.05"), "promtool check rules"),
    "a promtool test that no longer holds": (lambda m: m.replace(ALERTS, "ratio_rate5m > 0.05", "ratio_rate5m > 0.5"), "promtool test rules"),
    "a scrape config promtool rejects": (lambda m: m.append("prometheus/prometheus.yml", "\nunknown_top_level_key: 1\n"), "promtool check config"),
    "an Alertmanager route to no receiver": (lambda m: m.sub("alertmanager/alertmanager.yml", r"receiver: [\"']?([a-z-]+)[\"']?", "receiver: nobody-by-that-name"), "amtool check-config"),
    "a severity outside critical and warning": (lambda m: m.replace(ALERTS, "severity: warning", "severity: page"), "label severity must be critical or warning"),
    "an alert without a description": (lambda m: m.sub(ALERTS, r"(EchoDiaryHighLatency[\s\S]*?)description:", r"\1details:"), "EchoDiaryHighLatency: no description annotation"),
    "a runbook_url to another section": (lambda m: m.replace(ALERTS, RUNBOOK_ANCHOR, "alerts.md#echodiaryhigherrorrate"), "EchoDiaryHighLatency: runbook_url is"),
    "a runbook section renamed": (lambda m: m.replace("docs/runbooks/alerts.md", "## EchoDiaryHighLatency", "## Latency is high"), "#echodiaryhighlatency is not a heading"),
    "an alert no promtool test names": (lambda m: m.sub("prometheus/tests/service_alerts_test.yml", r"alertname: EchoDiaryHighLatency\b", "alertname: EchoDiaryHighLatencyX"), "EchoDiaryHighLatency: no promtool test names it"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_monitoring_check_fails_on(plant, fault):
    fails_on(plant(*FILES), FAULTS[fault], check)
