"""The render and schema stages of the deploy check fail on a copy of the repository with one
planted fault, and say where; the repository as committed passes them."""

import pytest

from checks.deploy import schemas
from checks.deploy.render import render
from conftest import fails_on

APP = "deploy/argocd/applications/echodiary.yaml"
ROLLOUT = "deploy/k8s/base/rollout.yaml"
BOOTSTRAP = "deploy/terraform/templates/bootstrap-application.yaml.tftpl"
TRAEFIK = "deploy/k8s/platform/traefik-config.yaml"
OLD_PDB = "---\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: old\nspec:\n  minAvailable: 1\n"
WIDGET = "---\napiVersion: widgets.example.com/v1\nkind: Widget\nmetadata:\n  name: demo\nspec:\n  size: 3\n"


def problems(repo) -> list[str]:
    roots, found = render(repo.root)
    return found.problems + schemas.check_builtin(repo.root, roots).problems + schemas.check_custom(repo.root, roots).problems


def test_the_repository_as_committed_renders_and_matches_every_schema(deploy_copy):
    assert problems(deploy_copy()) == []


FAULTS = {
    "a resource file that does not exist": (lambda r: r.replace("deploy/k8s/base/kustomization.yaml", "  - services.yaml", "  - servicez.yaml"),
                                            "deploy/k8s/overlays/prod: kubectl kustomize failed"),
    "an Application path that does not exist": (lambda r: r.replace(APP, "path: deploy/k8s/overlays/prod", "path: deploy/k8s/overlays/production"),
                                                "Application echodiary: spec.source.path 'deploy/k8s/overlays/production' does not exist"),
    "a bootstrap Application path that does not exist": (lambda r: r.replace(BOOTSTRAP, "path: deploy/argocd", "path: deploy/argo-cd"),
                                                             "bootstrap-application.yaml.tftpl (template): Application echodiary-bootstrap: spec.source.path 'deploy/argo-cd'"),
    "a built-in field of the wrong type": (lambda r: r.replace("deploy/k8s/overlays/local/postgres.yaml", "replicas: 1", 'replicas: "one"'),
                                           "StatefulSet echodiary/postgres (deploy/k8s/overlays/local/postgres.yaml): spec.replicas: 'one' is not of type 'integer'"),
    "an unknown built-in field": (lambda r: r.replace("deploy/k8s/base/services.yaml", "  selector:", "  selectr:\n    x: y\n  selector:"), "'selectr' was unexpected"),
    "an API version Kubernetes no longer serves": (lambda r: r.append("deploy/k8s/base/pdb.yaml", OLD_PDB), "policy/v1beta1 PodDisruptionBudget is not served by Kubernetes 1.33"),
    "a Rollout field of the wrong type": (lambda r: r.replace(ROLLOUT, "containerPort: 8000", 'containerPort: "8000"'),
                                          "Rollout echodiary/echodiary (deploy/k8s/base/rollout.yaml): does not match its schema: /spec/template/spec/containers/0/ports/0/containerPort must be integer"),
    "an Application field of the wrong type": (lambda r: r.replace(APP, "limit: 10", 'limit: "10"'), "retry/limit must be integer"),
    "a bootstrap Application field of the wrong type": (lambda r: r.replace(BOOTSTRAP, "selfHeal: true", 'selfHeal: "yes"'),
                                                            "Application argocd/echodiary-bootstrap (deploy/terraform/templates/bootstrap-application.yaml.tftpl (template)): does not match its schema: /spec/syncPolicy/automated/selfHeal must be boolean"),
    "a misspelled optional field": (lambda r: r.replace(APP, "selfHeal: true", "selfHael: true"), "unknown field: Object literal may only specify known properties, and '\"selfHael\"' does not exist"),
    "a misspelled nested field": (lambda r: r.replace(ROLLOUT, "      canaryService:", "      stepz: []\n      canaryService:"), "(at spec.strategy.canary.stepz)"),
    "a custom kind with no model": (lambda r: r.append("deploy/k8s/base/pdb.yaml", WIDGET), "unknown custom kind: no CRD model for widgets.example.com/v1 Widget"),
    "an unknown HelmChartConfig field": (lambda r: r.replace(TRAEFIK, "valuesContent:", "valueContent:"), "does not match crds/helmchartconfig.yaml: /spec Additional properties are not allowed ('valueContent' was unexpected)"),
    "Helm values that are not YAML": (lambda r: r.sub(TRAEFIK, r"(valuesContent: \|-?\n\s+)", r"\1[unclosed\n    "), "spec.valuesContent is not valid YAML"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_render_and_schema_stages_fail_on(deploy_copy, fault):
    fails_on(deploy_copy(), FAULTS[fault], problems)
