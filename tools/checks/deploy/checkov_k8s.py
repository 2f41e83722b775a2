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
from checks.deploy.render import Root, group
from checks.findings import Findings

CUSTOM = Path(__file__).resolve().parent / "checkov_custom"
PRUNE = {".git", "target", ".venv", "node_modules", ".dev"}


def stand_ins(doc: dict) -> list[dict]:
    """A Rollout's pod template as a Deployment; an AnalysisTemplate's Jobs as Jobs."""
    meta, spec = dict(doc.get("metadata") or {}), doc.get("spec") or {}
    if doc.get("kind") == "Rollout" and group(doc) == "argoproj.io" and spec.get("template"):
        return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                 "spec": {"replicas": spec.get("replicas", 1), "selector": spec.get("selector"), "template": spec["template"]}}]
    jobs = []
    for name, job in analysis_jobs(doc):
        own = job.get("metadata") or {}
        jobs.append({"apiVersion": "batch/v1", "kind": "Job", "spec": job.get("spec") or {}, "metadata": {
            **meta, "name": f"{meta.get('name')}.{name}",
            "annotations": {**(meta.get("annotations") or {}), **(own.get("annotations") or {})},
            "labels": {**(meta.get("labels") or {}), **(own.get("labels") or {})}}})
    return jobs


def dockerfiles_of(repo: Path):
    """Dockerfile, Dockerfile.* and *.Dockerfile, build output and vendored trees left unwalked."""
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in PRUNE]
        yield from (Path(dirpath) / n for n in filenames if n == "Dockerfile" or n.startswith("Dockerfile.")
                    or n.endswith(".Dockerfile"))


def config_skips(config: Path, found: Findings) -> list[str]:
    """The checks .checkov.yaml skips everywhere, each with the comment on or above its line."""
    if not config.is_file():
        return []
    lines, data = config.read_text().splitlines(), yaml.safe_load(config.read_text()) or {}
    for extra in set(data) - {"skip-check"}:
        found.add(config.name, f"sets {extra!r}: only skip-check belongs in it")
    entries = []
    for i, line in enumerate(lines):
        if match := re.match(r"^\s*-\s*(CKV\w+)\s*(?:#\s*(.*))?$", line):
            above = []
            for previous in reversed(lines[:i]):
                if not previous.strip().startswith("#") or previous.strip().startswith("- "):
                    break
                above.insert(0, previous.strip().lstrip("#").strip())
            entries.append(match[1])
            if len((match[2] or " ".join(above)).strip()) < 15:
                found.add(config.name, f"skip of {match[1]} has no justification (a comment on its line or above it)")
    if sorted(entries) != sorted(data.get("skip-check") or []):
        found.add(config.name, "write skip-check as a block list, one check a line, each with its reason")
    return entries


def locator(roots: list[Root]):
    """checkov's `Kind.namespace.name` in a rendered file, as `slug: Kind namespace/name (file)`; a
    failed custom check gets its details (DETAILS) on the way."""
    by_slug = {r.slug: r for r in roots}

    def locate(failed: dict) -> str:
        name = Path(failed.get("file_path", "?")).name
        slug, stand_in = name.removesuffix(".stand-ins.yaml").removesuffix(".yaml"), name.endswith(".stand-ins.yaml")
        root = by_slug.get(slug)
        kind, _, rest = failed.get("resource", "?").partition(".")
        wanted = {"Deployment": "Rollout", "Job": "AnalysisTemplate"}.get(kind) if stand_in else kind
        for doc in root.docs if root else ():
            meta = doc.get("metadata") or {}
            name = f"{meta['namespace']}.{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
            if doc.get("kind") == wanted and (rest == name or rest.startswith(name + ".")):
                if failed.get("check_id") in DETAILS and failed.get("check_result", {}).get("result") == "FAILED":
                    failed["details"] = DETAILS[failed["check_id"]](doc)
                return root.label(doc) + (" (its pod template, checked as a Deployment)" if kind == "Deployment" and stand_in
                                          else " (its Job, checked as a Job)" if stand_in else "")
        return f"{slug}: {failed.get('resource')}"
    return locate


def unreasoned(report: dict, locate) -> list[tuple[str, str]]:
    return [(locate(s), s["check_id"]) for s in (report.get("results") or {}).get("skipped_checks") or []
            if len(((s.get("check_result") or {}).get("suppress_comment") or "").replace("No comment provided", "")) < 10]


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("checkov")
    config = repo / ".checkov.yaml"
    skipped = config_skips(config, found)
    options = ("--config-file", str(config)) if config.is_file() else ()
    with tempfile.TemporaryDirectory() as scratch:
        manifests, dockerfiles = Path(scratch, "k8s"), Path(scratch, "docker")
        manifests.mkdir()
        for root in roots:
            (manifests / f"{root.slug}.yaml").write_text(yaml.safe_dump_all(root.docs, sort_keys=False))
            if extra := [s for d in root.docs for s in stand_ins(d)]:
                (manifests / f"{root.slug}.stand-ins.yaml").write_text(yaml.safe_dump_all(extra, sort_keys=False))
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
            found.extend(audited)
            summaries.append(f"{framework}: {audited.summary}")
            for where, check_id in unreasoned(report, locate):
                found.add(where, f"skips {check_id} without a reason (write checkov.io/skipN: {check_id}=<why>)")
    found.summary = "; ".join(summaries) + (f"; skipped everywhere: {', '.join(skipped)}" if skipped else "")
    return found
