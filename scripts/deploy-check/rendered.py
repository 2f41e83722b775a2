"""What render.py left in OUT, as the later stages of scripts/check-deploy.sh read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def rendered_roots(out: Path) -> Iterator[tuple[dict, Path, dict]]:
    """(entry of OUT/roots.json, its rendered YAML, its origins: "kind/namespace/name" -> file) for
    every root that rendered; roots that failed to build are left to the render stage's report."""
    roots_file = out / "roots.json"
    for entry in json.loads(roots_file.read_text()) if roots_file.is_file() else []:
        rendered = out / "rendered" / f"{entry['slug']}.yaml"
        if not rendered.is_file():
            continue
        origins_file = out / "rendered" / f"{entry['slug']}.origins.json"
        origins = json.loads(origins_file.read_text()) if origins_file.is_file() else {}
        yield entry, rendered, origins


ANALYSIS_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")


def analysis_jobs(doc: dict) -> Iterator[tuple[str, dict]]:
    """(metric name, provider.job) for every metric of an Argo Rollouts (Cluster)AnalysisTemplate that
    runs a Job: Argo Rollouts creates that Job in the rollout's namespace, so its pod template is a
    workload like any other (policy, references, checkov)."""
    if doc.get("kind") not in ANALYSIS_KINDS or not str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
        return
    for metric in (doc.get("spec") or {}).get("metrics") or []:
        job = ((metric or {}).get("provider") or {}).get("job")
        if isinstance(job, dict):
            yield str(metric.get("name", "?")), job
