"""Where alerts go, through the real amtool: a critical alert to the chat at once, a warning to the
daily digest, whose route is active only in its window. The routing check passes the committed
configuration and fails on each planted fault. amtool missing fails these tests: CI installs it."""

import pytest
import yaml

from checks import alert_routing
from checks.alert_routing import AT_ONCE, CONFIG, DIGEST
from checks.findings import Findings
from conftest import REPO, assert_found, fails_on

FILES = ("alertmanager", "prometheus")
LABELS = {"alertname": "X", "job": "echodiary"}
WARNING_ROUTE = """    - receiver: chat-digest
      matchers:
        - severity = "warning"
      active_time_intervals: [daily-digest]
"""
CRITICAL_ROUTE = """    - receiver: chat-critical
      matchers:
        - severity = "critical"
"""


def test_a_critical_alert_goes_to_the_chat_at_once():
    assert alert_routing.receivers(REPO / CONFIG, {"severity": "critical", **LABELS}, Findings("routing")) == [AT_ONCE]


def test_a_warning_goes_to_the_daily_digest():
    assert alert_routing.receivers(REPO / CONFIG, {"severity": "warning", **LABELS}, Findings("routing")) == [DIGEST]


def test_only_the_digest_route_waits_for_the_window():
    config = yaml.safe_load((REPO / CONFIG).read_text(encoding="utf-8"))
    held = {route["receiver"]: route["active"] + route["mute"] for route in alert_routing.routes(config)
            if route["active"] or route["mute"]}
    assert held == {DIGEST: ["daily-digest"]}
    assert "daily-digest" in {interval["name"] for interval in config["time_intervals"]}


def test_the_committed_configuration_passes(plant):
    assert not alert_routing.check(plant(*FILES).root).problems


FAULTS = {
    "the time interval removed from the warning route": (
        lambda r: r.replace(CONFIG, WARNING_ROUTE, WARNING_ROUTE.replace("      active_time_intervals: [daily-digest]\n", "")),
        f"sends to {DIGEST} at any time"),
    "critical alerts routed into the digest": (
        lambda r: r.replace(CONFIG, CRITICAL_ROUTE, CRITICAL_ROUTE.replace(AT_ONCE, DIGEST)),
        f"RoutingProbe: severity=critical routes to {DIGEST}, expected {AT_ONCE}"),
    "critical alerts held by the window": (
        lambda r: r.replace(CONFIG, CRITICAL_ROUTE, CRITICAL_ROUTE + "      active_time_intervals: [daily-digest]\n"),
        f"sends to {AT_ONCE}, which must never wait"),
    "warnings sent at once": (
        lambda r: r.replace(CONFIG, WARNING_ROUTE, WARNING_ROUTE.replace(DIGEST, AT_ONCE)),
        f"EchoDiaryHighLatency: severity=warning routes to {AT_ONCE}, expected {DIGEST}"),
    "a digest message per alert": (
        lambda r: r.replace(CONFIG, "group_by: [severity]", "group_by: [alertname, job]"),
        "splits the digest into several messages a day"),
    "a window shorter than group_interval": (
        lambda r: r.replace(CONFIG, 'end_time: "08:30"', 'end_time: "08:15"'),
        "08:00-08:15 is shorter than group_interval 30m"),
    "a repeat_interval of a whole day": (
        lambda r: r.replace(CONFIG, "repeat_interval: 20h", "repeat_interval: 24h"),
        "repeat_interval 24h must be over 12h and under 24h"),
    "resolved warnings left out": (
        lambda r: r.replace(CONFIG, "send_resolved: true", "send_resolved: false"),
        f"receiver {DIGEST}: slack_configs without send_resolved: true"),
    "a window no route can find": (
        lambda r: r.replace(CONFIG, "- name: daily-digest", "- name: daily-digest-renamed"),
        "amtool config routes: "),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_routing_check_fails_on(plant, fault):
    fails_on(plant(*FILES), FAULTS[fault], lambda repo: alert_routing.check(repo.root).problems)


def test_the_routing_check_fails_without_amtool(plant, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert_found(alert_routing.check(plant(*FILES).root).problems, "amtool: not installed")
