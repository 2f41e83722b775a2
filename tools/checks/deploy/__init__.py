"""The deploy check: everything under deploy/ that can be validated without a cluster.

Each stage prints its own Findings report and runs even when an earlier one failed, over the roots
the render stage built (kubectl kustomize of every overlay, ArgoCD Application path and loose file):
render, Kubernetes API schemas, CRD schemas, cross-references, ArgoCD and Argo Rollouts rules,
secrets in git, checkov (the rendered manifests and the Dockerfile) and release (the image CI builds,
how production pins it, what git ignores). deploy/terraform has its own check (`python -m checks
terraform`)."""

from pathlib import Path

from checks.deploy import argo, checkov_k8s, references, release, schemas, secrets
from checks.deploy.render import render

STAGES = (schemas.check_builtin, schemas.check_custom, references.check, argo.check, secrets.check, checkov_k8s.check,
          release.check)


def check(repo: Path) -> int:
    """Runs every stage on REPO; 1 when any found a problem."""
    roots, found = render(repo)
    status = found.report()
    for stage in STAGES:
        status = max(status, stage(repo, roots).report())
    return status
