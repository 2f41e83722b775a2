"""Stage checkov: the one Kubernetes policy engine, over the rendered roots (framework kubernetes,
with the project's custom checks of checkov_custom/) and over the Dockerfiles (framework dockerfile).

checkov knows no Argo Rollouts Rollout, so each Rollout's pod template is also checked as a
Deployment, and each Job an AnalysisTemplate runs (the canary's smoke test) as a Job named
<template>.<metric>, carrying the template's annotations (its checkov.io/skipN): the service's own
pods do not escape the container checks (probes, requests and limits, non-root, no privilege
escalation, capabilities, read-only root filesystem, image tag and digest, host namespaces).
A skip is either repository-wide in .checkov.yaml, one check a line with its justification as a
comment, or an annotation `checkov.io/skipN: CKV_xx=<why>` on the resource; a skip without a reason
fails. .checkov.yaml holds nothing but skip-check."""

import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from checks import checkov_scan
from checks.deploy.checkov_custom.argo_checks import DETAILS
from checks.deploy.references import analysis_jobs
from checks.deploy.render import Root, dig, group
from checks.findings import Findings

CUSTOM = Path(__file__).resolve().parent / "checkov_custom"
PRUNE = {".git", "target", ".venv", "node_modules", ".dev"}


def stand_ins(doc: dict) -> list[dict]:
    """A Rollout's pod template as a Deployment; an AnalysisTemplate's Jobs as Jobs."""
    meta, spec = dict(doc.get("metadata") or {}), doc.get("spec") or {}
    if doc.get("kind") == "Rollout" and group(doc) == "argoproj.io" and spec.get("template"):
        return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                 "spec": {"replicas": spec.get("replicas", 1), "selector": spec.get("selector"), "template": spec["template"]}}]
    return [{"apiVersion": "batch/v1", "kind": "Job", "spec": job.get("spec") or {}, "metadata": {
        **meta, "name": f"{meta.get('name')}.{name}",
        **{key: {**(meta.get(key) or {}), **(dig(job, "metadata", key) or {})} for key in ("annotations", "labels")}}}
        for name, job in analysis_jobs(doc)]


def dockerfiles_of(repo: Path):
    """Dockerfile, Dockerfile.* and *.Dockerfile, build output and vendored trees left unwalked."""
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in PRUNE]
        yield from (Path(dirpath) / n for n in filenames if n == "Dockerfile" or n.startswith("Dockerfile.")
                    or n.endswith(".Dockerfile"))


def config_skips(config: Path, found: Findings) -> list[str]:
    """The checks .checkov.yaml skips everywhere, each with the comment on its line or the comment
    lines right above it."""
    text = config.read_text() if config.is_file() else ""
    data = yaml.safe_load(text) or {}
    for extra in set(data) - {"skip-check"}:
        found.add(config.name, f"sets {extra!r}: only skip-check belongs in it")
    for check_id in data.get("skip-check") or []:
        line = re.search(rf"^((?:[ \t]*#.*\n)*)[ \t]*-[ \t]*{re.escape(str(check_id))}[ \t]*(#.*)?$", text, re.M)
        if not line:
            found.add(config.name, f"write skip-check as a block list, one check a line, each with its reason ({check_id})")
        elif len(re.sub(r"\s*#\s*", " ", line[2] or line[1]).strip()) < 15:
            found.add(config.name, f"skip of {check_id} has no justification (a comment on its line or above it)")
    return data.get("skip-check") or []


def locator(roots: list[Root]):
    """Where a finding of checkov's is, as `slug: Kind namespace/name (file)`: each document was
    written to <slug>/<index>.yaml, its stand-ins to <slug>/<index>.<n>.yaml. A failed custom check
    gets its details (DETAILS) on the way."""
    by_slug = {r.slug: r for r in roots}
    stand_in = {"Deployment": " (its pod template, checked as a Deployment)", "Job": " (its Job, checked as a Job)"}

    def locate(failed: dict) -> str:
        path = Path(failed.get("file_path", "?"))
        root, (index, *of) = by_slug[path.parent.name], path.stem.split(".")
        doc = root.docs[int(index)]
        if failed.get("check_id") in DETAILS and failed.get("check_result", {}).get("result") == "FAILED":
            failed["details"] = DETAILS[failed["check_id"]](doc)
        return root.label(doc) + (stand_in[failed["resource"].split(".")[0]] if of else "")
    return locate


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("checkov")
    config = repo / ".checkov.yaml"
    skipped = config_skips(config, found)
    options = ("--config-file", str(config)) if config.is_file() else ()
    with tempfile.TemporaryDirectory() as scratch:
        manifests, dockerfiles = Path(scratch, "k8s"), Path(scratch, "docker")
        for root in roots:
            (manifests / root.slug).mkdir(parents=True)
            for i, doc in enumerate(root.docs):
                for name, each in [(i, doc)] + [(f"{i}.{n}", s) for n, s in enumerate(stand_ins(doc))]:
                    (manifests / root.slug / f"{name}.yaml").write_text(yaml.safe_dump(each, sort_keys=False))
        for path in dockerfiles_of(repo):
            (dockerfiles / path.relative_to(repo)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, dockerfiles / path.relative_to(repo))
        k8s = checkov_scan.run(manifests, "kubernetes", "--external-checks-dir", str(CUSTOM), *options)
        reports = [("kubernetes", k8s, locator(roots))]
        if dockerfiles.is_dir():
            reports.append(("dockerfile", checkov_scan.run(dockerfiles, "dockerfile", *options), checkov_scan.file_and_line))
        summaries = []
        for framework, report, locate in reports:
            audited = checkov_scan.audit(report, [], f"checkov {framework}", locate)
            found.problems += audited.problems
            summaries.append(f"{framework}: {audited.summary}")
    found.summary = "; ".join(summaries) + (f"; skipped everywhere: {', '.join(skipped)}" if skipped else "")
    return found
