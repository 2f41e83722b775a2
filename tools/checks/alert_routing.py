"""Where alerts go (alertmanager/alertmanager.yml): a critical alert reaches the chat at once, a
warning waits for the daily digest. The routing is asked of the real amtool (`amtool config routes
test`) for a probe of each severity and for every alert of prometheus/rules/; the rest is what amtool
cannot say, read from the YAML as Alertmanager reads it (timings inherited from the parent route,
time intervals not):

- every route to the digest receiver is active only in a defined time interval, and no route to the
  at-once receiver is held by one (active or mute);
- the digest groups every warning together (group_by at most [severity]): one message a day;
- each time range of the window lasts at least the route's group_interval. Flushes are timed from
  when the group formed, not by the clock, so a shorter window can miss every flush, every day;
- repeat_interval is over 12h and under 24h (the reasons are at the route in alertmanager.yml);
- the digest receiver sends resolved alerts (Slack's default is not to).

amtool missing is a finding, never a skip: CI installs it (Debian: prometheus-alertmanager)."""

import re
from pathlib import Path

import yaml

from checks.findings import Findings
from checks.monitoring import alerts, run_tool

CONFIG = "alertmanager/alertmanager.yml"
AT_ONCE, DIGEST = "chat-critical", "chat-digest"
RECEIVER = {"critical": AT_ONCE, "warning": DIGEST}
PROBE = {"alertname": "RoutingProbe", "job": "echodiary"}
# Alertmanager's defaults for a root route that does not set them.
DEFAULTS = {"group_by": [], "group_interval": "5m", "repeat_interval": "4h"}
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DAY = SECONDS["d"]


def seconds(duration: str) -> float:
    """A Prometheus duration ("30m", "1h30m") in seconds."""
    parts = re.findall(r"(\d+)(ms|[smhdwy])", duration)
    if not parts or "".join(n + unit for n, unit in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * SECONDS[unit] for n, unit in parts)


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def routes(config: dict) -> list[dict]:
    """Every route of the tree, root first: its name (its matchers), receiver, the timings and
    grouping it inherits from its parent, and its own time intervals (active, mute)."""
    found = []

    def walk(node: dict, parent: dict, name: str) -> None:
        settings = {key: node.get(key, parent.get(key)) for key in ("receiver", *DEFAULTS)}
        found.append({**settings, "name": name, "active": node.get("active_time_intervals") or [],
                      "mute": node.get("mute_time_intervals") or []})
        for child in node.get("routes") or []:
            matchers = [*(child.get("matchers") or []), *(f"{k}={v}" for k, v in (child.get("match") or {}).items()),
                        *(f"{k}=~{v}" for k, v in (child.get("match_re") or {}).items())]
            walk(child, settings, "route {" + ", ".join(matchers) + "}")

    walk(config.get("route") or {}, DEFAULTS, "the root route")
    return found


def receivers(config: Path, labels: dict[str, str], found: Findings) -> list[str] | None:
    """The receivers `amtool config routes test` sends these labels to; None, and a finding, when
    amtool is missing or fails (an invalid config, an undefined time interval)."""
    output = run_tool(found, "amtool", "config", "routes", "test", f"--config.file={config}",
                      *(f"{k}={v}" for k, v in labels.items()))
    return None if output is None else output.strip().split(",")


def probes(root: Path) -> list[dict[str, str]]:
    """A probe of each severity, then every alert of prometheus/rules/ with its fixed labels."""
    found = [{**PROBE, "severity": severity} for severity in RECEIVER]
    for rule in alerts(sorted((root / "prometheus/rules").glob("*.yml"))):
        labels = {k: str(v) for k, v in (rule.get("labels") or {}).items() if "{{" not in str(v)}
        if labels.get("severity") in RECEIVER:
            found.append({"alertname": rule["alert"], "job": "echodiary", **labels})
    return found


def check_routing(root: Path, found: Findings) -> int:
    """amtool's answer for every probe; returns how many were routed, or -1 when amtool could not answer."""
    checked = probes(root)
    for labels in checked:
        if (got := receivers(root / CONFIG, labels, found)) is None:
            return -1
        if got != [RECEIVER[labels["severity"]]]:
            found.add(labels["alertname"], f"severity={labels['severity']} routes to {','.join(got)}, "
                                           f"expected {RECEIVER[labels['severity']]}")
    return len(checked)


def check_digest(config: dict, route: dict, found: Findings) -> None:
    name, defined = route["name"], {interval.get("name"): interval for interval in config.get("time_intervals") or []}
    if not route["active"]:
        found.add(name, f"sends to {DIGEST} at any time: it needs active_time_intervals (the daily window)")
    for window in route["active"]:
        if window not in defined:
            found.add(name, f"active time interval {window} is not defined under time_intervals")
        periods = (defined.get(window) or {}).get("time_intervals") or []
        for start, end in ((t["start_time"], t["end_time"]) for period in periods for t in period.get("times") or []):
            if (minutes(end) - minutes(start)) * 60 < seconds(route["group_interval"]):
                found.add(f"time interval {window}", f"{start}-{end} is shorter than group_interval {route['group_interval']} "
                                                     f"of {name}: a day can pass with no flush inside it")
    if not set(route["group_by"]) <= {"severity"}:
        found.add(name, f"group_by {route['group_by']} splits the digest into several messages a day: "
                        "group by [severity] at most")
    if not 12 * 3600 < seconds(route["repeat_interval"]) < DAY:
        found.add(name, f"repeat_interval {route['repeat_interval']} must be over 12h and under 24h")


def check(root: Path) -> Findings:
    found = Findings("alert routing")
    count = check_routing(root, found)
    config = yaml.safe_load((root / CONFIG).read_text(encoding="utf-8")) or {}
    tree = routes(config)
    for route in tree:
        if route["receiver"] == DIGEST:
            check_digest(config, route, found)
        elif route["receiver"] == AT_ONCE and (route["active"] or route["mute"]):
            found.add(route["name"], f"sends to {AT_ONCE}, which must never wait: "
                                     f"it is held by time intervals {route['active'] + route['mute']}")
    for receiver in config.get("receivers") or []:
        if receiver.get("name") == DIGEST:
            for kind, integrations in receiver.items():
                if kind.endswith("_configs") and not all(c.get("send_resolved") for c in integrations):
                    found.add(f"receiver {DIGEST}", f"{kind} without send_resolved: true leaves resolved warnings "
                                                    "out of the digest")
    windows = sorted({name for route in tree if route["receiver"] == DIGEST for name in route["active"]})
    routed = f"{count} alerts and probes routed by amtool" if count >= 0 else "amtool routed nothing"
    found.summary = f"{routed}: critical to {AT_ONCE} at once, warnings to {DIGEST} in {', '.join(windows) or 'no window'}"
    return found
