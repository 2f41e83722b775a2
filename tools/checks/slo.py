"""The SLO rules: prometheus/rules/slo.yml is generated from prometheus/slo.yml, the one place the
objectives are stated, and must be exactly what the generator writes (`--write` writes it).

For each SLO: the error ratio over every window the burn-rate alerts read (recording rules
slo:sli_error:ratio_rate<window>, labels job and slo), the ratio over the whole objective window
(the mean of the 5-minute ratios, as Sloth computes it), the remaining error budget, and two
multiwindow burn-rate alerts (a page and a ticket). A ratio exists only while the job has API
traffic (its denominator is filtered with `> 0`): no traffic never fires anything."""

import re
from pathlib import Path

import yaml

from checks.alert_routing import seconds
from checks.findings import Findings

SPEC, RULES = "prometheus/slo.yml", "prometheus/rules/slo.yml"
RUNBOOK_URL = "https://github.com/echodiary/echodiary-backend/blob/main/docs/runbooks/slo.md#"
SPEED = {"critical": "Fast", "warning": "Slow"}


class Dumper(yaml.SafeDumper):
    """Lists indented under their key and multi-line expressions as literal blocks, as a person (and
    yamllint) would write them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def bad_and_total(spec: dict, slo: dict, window: str) -> tuple[str, str]:
    total = f"sum by (job) (rate({spec['requests']}[{window}]))"
    if "errors" in slo:
        return f"sum by (job) (rate({slo['errors']}[{window}]))", total
    within = spec["requests"].replace("_count{", "_bucket{", 1).replace("}", f', le="{slo["threshold_seconds"]}"}}', 1)
    return f"{total} - sum by (job) (rate({within}[{window}]))", total


def rules(spec: dict) -> dict:
    windows = sorted({"5m", *(w for rate in spec["burn_rates"] for _, *pair in rate["windows"] for w in pair)},
                     key=seconds)
    groups = []
    for slo in spec["slos"]:
        name, budget = slo["name"], 1 - slo["objective"]
        recorded = []
        for window in windows:
            bad, total = bad_and_total(spec, slo, window)
            recorded.append({"record": f"slo:sli_error:ratio_rate{window}", "labels": {"slo": name},
                             "expr": f"(({bad}) or ({total} * 0)) / ({total} > 0)"})
        ratio5m = f'slo:sli_error:ratio_rate5m{{slo="{name}"}}'
        recorded += [
            {"record": f"slo:sli_error:ratio_rate{spec['window']}", "labels": {"slo": name},
             "expr": f"sum_over_time({ratio5m}[{spec['window']}]) / count_over_time({ratio5m}[{spec['window']}])"},
            {"record": "slo:error_budget:remaining_ratio", "labels": {"slo": name},
             "expr": f'1 - slo:sli_error:ratio_rate{spec["window"]}{{slo="{name}"}} / {budget:.6g}'},
            {"record": "slo:objective:ratio", "labels": {"slo": name}, "expr": f"{slo['objective']:.6g}"},
        ]
        for rate in spec["burn_rates"]:
            alert = f"EchoDiary{slo['title']}BudgetBurn{SPEED[rate['severity']]}"
            conditions = [" and ".join(f'slo:sli_error:ratio_rate{w}{{slo="{name}"}} > {factor * budget:.6g}'
                                       for w in (long, short)) for factor, long, short in rate["windows"]]
            described = "; or ".join(f"{factor}x over {long} and {short}" for factor, long, short in rate["windows"])
            recorded.append({
                "alert": alert, "expr": " or\n".join(f"({c})" for c in conditions),
                "labels": {"severity": rate["severity"], "slo": name},
                "annotations": {
                    "summary": f"{{{{ $labels.job }}}}: the {name} error budget burns too fast",
                    "description": f"{slo['description']}: the objective is {slo['objective']:.4g} over "
                                   f"{spec['window']}, and errors consume the budget at {described} "
                                   f"(now {{{{ $value | humanizePercentage }}}} of requests fail the objective).",
                    "runbook_url": RUNBOOK_URL + alert.lower()}})
        groups.append({"name": f"echodiary-slo-{name}", "rules": recorded})
    return {"groups": groups}


def check(root: Path, write: bool = False) -> Findings:
    found, spec = Findings("slo rules"), yaml.safe_load((root / SPEC).read_text(encoding="utf-8"))
    wanted = f"# Generated from {SPEC} by `python -m checks slo --write`: edit that file, not this one.\n" + \
        yaml.dump(rules(spec), Dumper=Dumper, sort_keys=False, width=1000)
    if write:
        (root / RULES).write_text(wanted, encoding="utf-8")
    elif not (root / RULES).is_file() or (root / RULES).read_text(encoding="utf-8") != wanted:
        found.add(RULES, f"is not what {SPEC} generates: run `python -m checks slo --write`")
    buckets = re.search(r"LATENCY_BUCKETS: \[f64; \d+\] = \[([^\]]*)\]", (root / "src/monitoring.rs").read_text())
    for slo in spec["slos"]:
        if "threshold_seconds" in slo and (not buckets or slo["threshold_seconds"] not in
                                           [float(b) for b in buckets.group(1).replace("\n", " ").split(",") if b.strip()]):
            found.add(SPEC, f"{slo['name']}: {slo['threshold_seconds']} s is not a bucket of LATENCY_BUCKETS")
    found.summary = f"{len(spec['slos'])} SLOs, {RULES} as generated"
    return found
