"""checkov custom checks (loaded with --external-checks-dir) for what checkov has no check of its
own for: how ArgoCD syncs, and whether an Argo Rollouts canary analysis can judge anything. A
resource that must differ skips one like any checkov check: `checkov.io/skipN: CKV_ECHO_n=<why>`.
checkov's Kubernetes report drops a check's details, so each check is a function naming the problems,
which the deploy check calls again on a failed resource (DETAILS), to say what exactly is wrong."""

import re

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

# A Prometheus query that judges traffic over a window, and its parts.
TRAFFIC = re.compile(r"\b(?:rate|irate|increase|histogram_quantile)\s*\(")
# `and [on ()] ... >= N` (or `>= {{args.x}}`): the value exists only with enough requests behind it.
COUNT_GUARD = re.compile(r"\band\b(?:\s+on\s*\(\s*\))?[\s\S]*?>=\s*(?:\{\{\s*args\.[\w.-]+\s*\}\}|\d)")
VACUOUS = re.compile(r"len\(\s*result\s*\)\s*==\s*0|isNaN\s*\(|isInf\s*\(")
RANGE = re.compile(r"\[\s*([0-9]+(?:ms|[smhdwy]))\s*\]")
TEMPLATES = ("AnalysisTemplate", "ClusterAnalysisTemplate")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(text: str) -> float | None:
    parts = re.findall(r"([0-9.]+)(ms|[smhdwy])", text.strip())
    return sum(float(n) * UNITS[u] for n, u in parts) if "".join(n + u for n, u in parts) == text.strip() else None


def metrics(conf: dict):
    for metric in (conf.get("spec") or {}).get("metrics") or []:
        if isinstance(metric, dict):
            yield f"metric {metric.get('name', '?')}", metric


DETAILS = {}  # check id: the function that names what is wrong


def problem_check(check_id: str, name: str, *kinds: str):
    """Registers a checkov check of `kinds` that fails when the function it decorates, problems(conf),
    names any problem."""
    def register(problems):
        class Check(BaseK8Check):
            def __init__(self):
                super().__init__(name=name, id=check_id, categories=[CheckCategories.KUBERNETES], supported_entities=kinds)

            def scan_spec_conf(self, conf):
                self.details = problems(conf)
                return CheckResult.FAILED if self.details else CheckResult.PASSED

        Check()
        DETAILS[check_id] = problems
        return problems
    return register


@problem_check("CKV_ECHO_1", "ArgoCD Application syncs automatically with prune, selfHeal and retry", "Application")
def automated_sync(conf):
    """Issue 5: git is the only way to change the cluster: drift is undone, what left git is deleted,
    a failed sync is retried."""
    policy = (conf.get("spec") or {}).get("syncPolicy") or {}
    automated = policy.get("automated")
    if not isinstance(automated, dict) or automated.get("enabled") is False:
        return ["syncPolicy.automated is not set"]
    missing = [f"automated.{k}" for k in ("prune", "selfHeal") if automated.get(k) is not True]
    missing += [] if policy.get("retry") else ["retry"]
    return [f"syncPolicy lacks {', '.join(missing)}"] if missing else []


@problem_check("CKV_ECHO_2", "Argo Rollouts analysis judges enough traffic, in disjoint windows", *TEMPLATES)
def analysis_evidence(conf):
    """Issue 13: a canary is judged on enough evidence, never passed blind. For a metric whose query
    judges traffic: a minimum-count guard (too little traffic returns nothing), both conditions (so
    nothing is neither: Inconclusive, never a pass), no condition that passes an empty or NaN result,
    a count (an endless metric ends Successful when the rollout completes, measured or not), and each
    range equal to the interval (consecutive measurements judge disjoint windows)."""
    found = []
    for where, metric in metrics(conf):
        query = str(((metric.get("provider") or {}).get("prometheus") or {}).get("query") or "")
        if not TRAFFIC.search(query):
            continue
        success, failure = str(metric.get("successCondition") or ""), str(metric.get("failureCondition") or "")
        problems = [] if success and failure else ["needs both successCondition and failureCondition"]
        if VACUOUS.search(success):
            problems.append(f"successCondition {success!r} passes an empty or NaN result: no traffic would pass")
        if not COUNT_GUARD.search(query):
            problems.append("the query has no minimum-count guard (`... and on () (<request count> >= N)`)")
        if metric.get("count") in (None, "", 0, "0"):
            problems.append("no count: an endless metric ends Successful when the rollout completes")
        interval = metric.get("interval")
        problems += [f"range [{w}] differs from interval {interval}: overlapping or gapped windows"
                     for w in sorted(set(RANGE.findall(query))) if interval and seconds(w) != seconds(str(interval))]
        found += [f"{where}: {p}" for p in problems]
    return found


@problem_check("CKV_ECHO_3", "Argo Rollouts analysis metric limits are valid", *TEMPLATES)
def analysis_limits(conf):
    """Argo Rollouts' own validation of a metric's counts, so a template is not rejected only in the
    cluster. A value given as {{args.x}} is known only there and is left alone."""
    found = []
    for where, metric in metrics(conf):
        try:
            count, failure, success, inconclusive = (int(metric.get(k, 0)) for k in (
                "count", "failureLimit", "consecutiveSuccessLimit", "inconclusiveLimit"))
        except (TypeError, ValueError):
            continue
        problems = [text for bad, text in (
            (failure < -1, "failureLimit must be >= 0, or -1 to disable it"),
            (success < 0 or inconclusive < 0, "consecutiveSuccessLimit and inconclusiveLimit must be >= 0"),
            (success == 0 and failure == -1, "failureLimit and consecutiveSuccessLimit cannot both be disabled"),
            (count > 0 and min(success, failure) >= 0 and count < failure + success,
             f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit ({failure} + {success})"),
            (0 < count < inconclusive, f"count ({count}) must be >= inconclusiveLimit ({inconclusive})"),
            (count > 1 and not metric.get("interval"), f"count {count} needs an interval")) if bad]
        found += [f"{where}: {p}" for p in problems]
    return found
