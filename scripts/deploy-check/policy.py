"""Stage 4 of scripts/check-deploy.sh: the deployment policy, over the rendered manifests.

    policy.py OUT          (OUT/roots.json and OUT/rendered/<slug>.yaml from render.py)
    policy.py --rules      list the rules

Every container and initContainer of every workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
Argo Rollouts Rollout, Job, CronJob, Pod):
  readiness-probe, liveness-probe   long-running workloads only (not Jobs, CronJobs or run-once Pods),
                                    containers and sidecar initContainers (restartPolicy: Always)
  cpu-request, memory-request, memory-limit
  run-as-non-root                   runAsNonRoot: true on the container or the pod, and no runAsUser 0
  allow-privilege-escalation        allowPrivilegeEscalation: false
  privileged                        privileged is not true
  drop-all-capabilities             capabilities.drop contains ALL
  read-only-root-filesystem         readOnlyRootFilesystem: true
  image-pinned                      a version tag or a digest: no missing tag, no `latest` (or another
                                    moving tag); an overlay's placeholder tag counts as pinned
  host-network, host-pid, host-ipc  not set on the pod
  host-path                         no hostPath volume
Secrets and other values:
  secret-in-git                     a Secret with values only in the local overlay, and there only
                                    development values (nothing random-looking)
  secret-pattern                    no credential-shaped value anywhere (AWS keys, private keys, chat
                                    webhook URLs with their token, Slack/GitHub tokens, JWTs)
ArgoCD Applications (issue 5: automated sync with prune, self-heal and retry):
  argocd-sync                       syncPolicy.automated with prune and selfHeal true, syncPolicy.retry
Argo Rollouts analysis (issue 13: a canary is judged on enough evidence, never passed blind). Every
metric of an AnalysisTemplate whose Prometheus query judges traffic (rate, increase,
histogram_quantile):
  analysis-evidence                 a minimum-count guard: the query ANDs its value with a request
                                    count `>= N` (or `>= {{args.x}}`), so too little traffic returns
                                    nothing; both successCondition and failureCondition, so nothing is
                                    Inconclusive (neither), never a pass; a successCondition that does
                                    not accept an empty or NaN result; a `count` (an endless metric
                                    ends Successful when the rollout completes, measured or not)
  analysis-window                   every range `[d]` of the query equals the metric's interval:
                                    consecutive measurements judge disjoint windows, and one slow
                                    request is not counted again and again
  analysis-limits                   count, failureLimit, consecutiveSuccessLimit, inconclusiveLimit as
                                    Argo Rollouts validates them (count >= failureLimit +
                                    consecutiveSuccessLimit, count >= inconclusiveLimit, an interval
                                    when count > 1), so a template is not rejected only in the cluster
The Jobs that AnalysisTemplates run (provider.job) are workloads: their pod templates get the
container rules above (as run-to-completion pods).

An exception is an annotation on the resource (for workloads, also on the pod template):
    policy.echodiary.dev/exempt: "read-only-root-filesystem: PostgreSQL writes to /var/run/postgresql"
several separated by `;` or new lines, each `RULE: REASON` or `RULE(CONTAINER): REASON` for one
container. Every exception is printed; one without a reason, or naming an unknown rule, fails.
Exit status 1 on any finding.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from rendered import ANALYSIS_KINDS, analysis_jobs, rendered_roots

EXEMPT_ANNOTATION = "policy.echodiary.dev/exempt"
RULES = [
    "readiness-probe", "liveness-probe", "cpu-request", "memory-request", "memory-limit",
    "run-as-non-root", "allow-privilege-escalation", "privileged", "drop-all-capabilities",
    "read-only-root-filesystem", "image-pinned", "host-network", "host-pid", "host-ipc", "host-path",
    "secret-in-git", "secret-pattern", "argocd-sync", "analysis-evidence", "analysis-window",
    "analysis-limits",
]
# Rules of stage 5 (references.py), which reads the same annotation.
REFERENCE_RULES = ["refs", "argocd-project", "notifications", "migration-guard", "canary-smoke-test",
                   "optional-secret-health"]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout", "Job", "CronJob", "Pod"}
RUN_TO_COMPLETION = {"Job", "CronJob"}
MOVING_TAGS = {"latest", "stable", "main", "master", "edge", "nightly", "head", "develop", "current", "lts"}
LOCAL_OVERLAY = "deploy/k8s/overlays/local"
DEV_MARKERS = re.compile(r"dev|local|example|insecure|changeme|change-me|not-?a-?secret|test|dummy|"
                         r"placeholder|sample|fake|do-not-use|donotuse|unsafe", re.I)
SECRET_PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("Slack webhook URL", re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,}")),
    ("Discord webhook URL", re.compile(r"discord(?:app)?\.com/api/webhooks/\d{15,}/[\w-]{30,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[0-9A-Za-z]{30,}")),
    ("JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")),
]


# A Prometheus query that judges traffic over a window.
TRAFFIC_QUERY = re.compile(r"\b(?:rate|irate|increase|histogram_quantile)\s*\(")
# `and [on ()] ... >= N` or `>= {{args.x}}` after it: the value exists only with enough requests.
COUNT_GUARD = re.compile(r"\band\b(?:\s+on\s*\(\s*\))?[\s\S]*?>=\s*(?:\{\{\s*args\.[\w.-]+\s*\}\}|\d)")
VACUOUS_PASS = re.compile(r"len\(\s*result\s*\)\s*==\s*0|isNaN\s*\(|isInf\s*\(")
# A range selector's duration (not a subquery's `[d:r]`).
RANGE = re.compile(r"\[\s*([0-9]+(?:ms|[smhdwy]))\s*\]")


def duration_seconds(text: str) -> float | None:
    """Seconds of a Go/Prometheus duration such as 5m, 1h30m, 300s; None if it is not one."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"([0-9.]+)(ms|[smhdwy])", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * units[u] for n, u in parts)


def entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_candidates(value: str):
    """The parts of a Secret value that would be the secret: a URL's password, `key=value` values,
    else the whole value."""
    found = False
    for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^\s\"']+", value, re.I):
        try:
            password = urlsplit(match.group(0)).password
        except ValueError:
            password = None
        if password:
            found = True
            yield password
    for match in re.finditer(r"(?i)(?:password|passwd|pwd|secret|token|key)\s*[=:]\s*['\"]?([^\s'\";&]+)", value):
        found = True
        yield match.group(1)
    if not found:
        yield value


def looks_real(candidate: str) -> bool:
    """Random-looking and not marked as a development value."""
    if DEV_MARKERS.search(candidate):
        return False
    return len(candidate) >= 12 and entropy(candidate) >= 3.3


def image_problem(image) -> str | None:
    if not isinstance(image, str) or not image:
        return "no image"
    reference, _, digest = image.partition("@")
    if digest:
        return None if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) else f"image {image!r}: malformed digest"
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (means :latest)"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in MOVING_TAGS:
        return f"image {image!r} uses the moving tag {tag!r}"
    return None


class Checker:
    def __init__(self):
        self.failures: list[str] = []
        self.exemptions: list[str] = []
        self.containers = 0
        self.workloads = 0

    def exemptions_of(self, label: str, *annotation_sets) -> dict:
        """(rule, container or None) -> reason."""
        result = {}
        for annotations in annotation_sets:
            value = (annotations or {}).get(EXEMPT_ANNOTATION)
            if value is None:
                continue
            for entry in re.split(r"[;\n]", str(value)):
                entry = entry.strip()
                if not entry:
                    continue
                match = re.fullmatch(r"([a-z-]+)(?:\(([\w.-]+)\))?\s*:\s*(.*)", entry, re.S)
                if not match:
                    self.failures.append(f"{label}: {EXEMPT_ANNOTATION} entry {entry!r} is not `RULE: REASON`")
                    continue
                rule, container, reason = match.groups()
                if rule in REFERENCE_RULES:
                    continue  # checked and printed by references.py
                if rule not in RULES:
                    self.failures.append(f"{label}: {EXEMPT_ANNOTATION} names unknown rule {rule!r} "
                                         f"(rules: {', '.join(RULES + REFERENCE_RULES)})")
                elif len(reason.strip()) < 10:
                    self.failures.append(f"{label}: {EXEMPT_ANNOTATION} exception for {rule} has no reason")
                else:
                    result[(rule, container)] = reason.strip()
        return result

    def report(self, label: str, exempt: dict, rule: str, message: str, container: str | None = None):
        reason = exempt.get((rule, container)) or exempt.get((rule, None))
        where = f"{label} container {container}" if container else label
        if reason:
            self.exemptions.append(f"{where}: {rule}: {message} -- exempt: {reason}")
        else:
            self.failures.append(f"{where}: {rule}: {message}")

    # -------------------------------------------------------------------------------- workloads

    def workload(self, label: str, doc: dict):
        kind = doc["kind"]
        spec = doc.get("spec") or {}
        template = {}
        if kind == "CronJob":
            template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        elif kind == "Pod":
            template = {"metadata": doc.get("metadata"), "spec": spec}
        else:
            template = spec.get("template") or {}
        pod = template.get("spec")
        if kind == "Rollout" and not pod and spec.get("workloadRef"):
            return  # the referenced Deployment is checked itself
        if not isinstance(pod, dict):
            self.failures.append(f"{label}: no pod template")
            return
        self.workloads += 1
        exempt = self.exemptions_of(label, (doc.get("metadata") or {}).get("annotations"),
                                    (template.get("metadata") or {}).get("annotations"))
        long_running = kind not in RUN_TO_COMPLETION and not (
            kind == "Pod" and pod.get("restartPolicy") in ("Never", "OnFailure"))

        for field, rule in (("hostNetwork", "host-network"), ("hostPID", "host-pid"), ("hostIPC", "host-ipc")):
            if pod.get(field) is True:
                self.report(label, exempt, rule, f"{field}: true")
        for volume in pod.get("volumes") or []:
            if "hostPath" in (volume or {}):
                self.report(label, exempt, "host-path", f"volume {volume.get('name')} is a hostPath "
                            f"({(volume.get('hostPath') or {}).get('path')})")

        pod_security = pod.get("securityContext") or {}
        groups = [("initContainers", c) for c in pod.get("initContainers") or []] + \
                 [("containers", c) for c in pod.get("containers") or []]
        if not pod.get("containers"):
            self.failures.append(f"{label}: no containers")
        for group, container in groups:
            self.containers += 1
            self.container(label, exempt, group, container or {}, pod_security, long_running)

    def container(self, label, exempt, group, container, pod_security, long_running):
        name = container.get("name", "?")
        kind_of = "initContainer" if group == "initContainers" else "container"
        sidecar = group == "initContainers" and container.get("restartPolicy") == "Always"

        def report(rule, message):
            self.report(label, exempt, rule, f"{kind_of} {name}: {message}" if kind_of != "container" else message,
                        container=name)

        if long_running and (group == "containers" or sidecar):
            if not container.get("readinessProbe"):
                report("readiness-probe", "no readinessProbe")
            if not container.get("livenessProbe"):
                report("liveness-probe", "no livenessProbe")

        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if "cpu" not in requests:
            report("cpu-request", "no resources.requests.cpu")
        if "memory" not in requests:
            report("memory-request", "no resources.requests.memory")
        if "memory" not in limits:
            report("memory-limit", "no resources.limits.memory")

        security = container.get("securityContext") or {}
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
        if non_root is not True:
            report("run-as-non-root", "runAsNonRoot is not true (container or pod securityContext)")
        elif run_as_user == 0:
            report("run-as-non-root", "runAsUser: 0")
        if security.get("allowPrivilegeEscalation") is not False:
            report("allow-privilege-escalation", "securityContext.allowPrivilegeEscalation is not false")
        if security.get("privileged") is True:
            report("privileged", "securityContext.privileged: true")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            report("drop-all-capabilities", "securityContext.capabilities.drop does not contain ALL")
        if capabilities.get("add"):
            print(f"note {label} {kind_of} {name}: adds capabilities {capabilities['add']}")
        if security.get("readOnlyRootFilesystem") is not True:
            report("read-only-root-filesystem", "securityContext.readOnlyRootFilesystem is not true")
        problem = image_problem(container.get("image"))
        if problem:
            report("image-pinned", problem)

    # -------------------------------------------------------------------------------- analysis

    def analysis(self, label: str, doc: dict):
        meta = doc.get("metadata") or {}
        exempt = self.exemptions_of(label, meta.get("annotations"))
        for name, job in analysis_jobs(doc):
            job_meta = dict(job.get("metadata") or {})
            job_meta["annotations"] = {**(meta.get("annotations") or {}), **(job_meta.get("annotations") or {})}
            self.workload(f"{label} metric {name} (its Job)", {"kind": "Job", "metadata": job_meta,
                                                               "spec": job.get("spec") or {}})
        for metric in (doc.get("spec") or {}).get("metrics") or []:
            metric = metric or {}
            where = f"{label} metric {metric.get('name', '?')}"
            self.metric_limits(where, exempt, metric)
            query = str((((metric.get("provider") or {}).get("prometheus")) or {}).get("query") or "")
            if TRAFFIC_QUERY.search(query):
                self.traffic_metric(where, exempt, metric, query)

    def metric_limits(self, where: str, exempt: dict, metric: dict):
        """Argo Rollouts' own validation of a metric's counts (utils/analysis ValidateMetric)."""
        def number(key, default):
            value = metric.get(key, default)
            try:
                return int(value)
            except (TypeError, ValueError):
                return None  # an {{args.x}} reference: known only in the cluster

        count, failure = number("count", 0), number("failureLimit", 0)
        success, inconclusive = number("consecutiveSuccessLimit", 0), number("inconclusiveLimit", 0)
        if None in (count, failure, success, inconclusive):
            return
        problems = []
        if failure < -1:
            problems.append("failureLimit must be >= 0, or -1 to disable it")
        if success < 0 or inconclusive < 0:
            problems.append("consecutiveSuccessLimit and inconclusiveLimit must be >= 0")
        if success == 0 and failure == -1:
            problems.append("failureLimit and consecutiveSuccessLimit cannot both be disabled")
        if count > 0:
            if success >= 0 and failure >= 0 and count < failure + success:
                problems.append(f"count ({count}) must be >= failureLimit + consecutiveSuccessLimit "
                                f"({failure} + {success})")
            if count < inconclusive:
                problems.append(f"count ({count}) must be >= inconclusiveLimit ({inconclusive})")
        if count > 1 and not metric.get("interval"):
            problems.append(f"count {count} needs an interval")
        for problem in problems:
            self.report(where, exempt, "analysis-limits", problem)

    def traffic_metric(self, where: str, exempt: dict, metric: dict, query: str):
        success = str(metric.get("successCondition") or "")
        failure = str(metric.get("failureCondition") or "")
        if not success or not failure:
            self.report(where, exempt, "analysis-evidence",
                        "needs both successCondition and failureCondition: with one alone every measurement "
                        "is a pass or a failure, and too little traffic cannot be Inconclusive")
        if VACUOUS_PASS.search(success):
            self.report(where, exempt, "analysis-evidence",
                        f"successCondition {success!r} passes an empty or NaN result: no traffic would pass")
        if not COUNT_GUARD.search(query):
            self.report(where, exempt, "analysis-evidence",
                        "the query has no minimum-count guard (`... and on () (<request count> >= N)`): "
                        "it judges a handful of requests, or none, like a thousand")
        if metric.get("count") in (None, "", 0, "0"):
            self.report(where, exempt, "analysis-evidence",
                        "no count: an endless metric ends Successful when the rollout completes, measured "
                        "or not")
        interval = metric.get("interval")
        if interval:
            want = duration_seconds(str(interval))
            for window in sorted(set(RANGE.findall(query))):
                if duration_seconds(window) != want:
                    self.report(where, exempt, "analysis-window",
                                f"range [{window}] differs from interval {interval}: overlapping or gapped "
                                "windows (use the interval as the window)")

    # -------------------------------------------------------------------------------- secrets

    def secret(self, label: str, doc: dict, root_dir: str):
        exempt = self.exemptions_of(label, (doc.get("metadata") or {}).get("annotations"))
        values = {}
        for key, value in (doc.get("stringData") or {}).items():
            values[key] = str(value)
        for key, value in (doc.get("data") or {}).items():
            try:
                values[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                self.failures.append(f"{label}: data.{key} is not valid base64")
        if not values:
            return
        if root_dir != LOCAL_OVERLAY:
            self.report(label, exempt, "secret-in-git",
                        f"a Secret with values ({', '.join(sorted(values))}) outside the local overlay: "
                        "secrets come from AWS through an ExternalSecret")
            return
        for key, value in sorted(values.items()):
            for candidate in secret_candidates(value):
                if looks_real(candidate):
                    self.report(label, exempt, "secret-in-git",
                                f"{key} holds a random-looking value ({len(candidate)} characters, no "
                                "development marker such as dev/local/example/insecure): use an obvious "
                                "development value")
                    break

    def patterns(self, label: str, doc: dict):
        exempt = self.exemptions_of(label, (doc.get("metadata") or {}).get("annotations"))
        texts = [json.dumps(doc)]
        if doc.get("kind") == "Secret":
            for value in (doc.get("data") or {}).values():
                try:
                    texts.append(base64.b64decode(str(value)).decode("utf-8", "replace"))
                except (binascii.Error, ValueError):
                    pass
        for text in texts:
            for what, pattern in SECRET_PATTERNS:
                match = pattern.search(text)
                if match:
                    shown = match.group(0)[:12] + "..."
                    self.report(label, exempt, "secret-pattern", f"holds what looks like a {what} ({shown})")

    # -------------------------------------------------------------------------------- ArgoCD

    def application(self, label: str, doc: dict):
        exempt = self.exemptions_of(label, (doc.get("metadata") or {}).get("annotations"))
        policy = (doc.get("spec") or {}).get("syncPolicy") or {}
        automated = policy.get("automated")
        if not isinstance(automated, dict) or automated.get("enabled") is False:
            self.report(label, exempt, "argocd-sync", "syncPolicy.automated is not set")
            return
        missing = [f"automated.{k}" for k in ("prune", "selfHeal") if automated.get(k) is not True]
        if not policy.get("retry"):
            missing.append("retry")
        if missing:
            self.report(label, exempt, "argocd-sync", f"syncPolicy lacks {', '.join(missing)}")


def main(argv: list[str]) -> int:
    if argv[1:] == ["--rules"]:
        print("\n".join(RULES))
        return 0
    out = Path(argv[1])
    checker = Checker()
    per_root = []
    for root, rendered, origins in rendered_roots(out):
        before = (len(checker.failures), checker.workloads, checker.containers)
        for doc in yaml.safe_load_all(rendered.read_text()):
            if not isinstance(doc, dict) or "kind" not in doc:
                continue
            meta = doc.get("metadata") or {}
            key = f"{doc['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}"
            where = f" ({origins[key]})" if key in origins else ""
            name = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
            label = f"{root['slug']}: {doc['kind']} {name}{where}"
            checker.patterns(label, doc)
            if doc["kind"] in WORKLOADS and str(doc.get("apiVersion", "")).split("/")[0] in (
                    "apps", "batch", "v1", "argoproj.io", "extensions"):
                checker.workload(label, doc)
            elif doc["kind"] == "Secret" and doc.get("apiVersion") == "v1":
                checker.secret(label, doc, root["dir"])
            elif doc["kind"] == "Application" and str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                checker.application(label, doc)
            elif doc["kind"] in ANALYSIS_KINDS and str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                checker.analysis(label, doc)
        per_root.append(f"  {root['dir']}: {checker.workloads - before[1]} workload(s), "
                        f"{checker.containers - before[2]} container(s), "
                        f"{len(checker.failures) - before[0]} finding(s)")
    for exemption in checker.exemptions:
        print(f"EXEMPT {exemption}")
    for failure in checker.failures:
        print(f"FAIL {failure}")
    print("\n".join(per_root))
    print(f"policy: {checker.workloads} workload(s), {checker.containers} container(s), "
          f"{len(checker.failures)} finding(s), {len(checker.exemptions)} exception(s)")
    if not per_root:
        print("policy: nothing rendered to check")
        return 1
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
