"""checkov, the one Kubernetes policy engine, and the secrets module fail on planted faults in a copy
of the repository: the container rules the project's own policy check used to have (now checkov's
own checks, never skipped repository-wide), the Rollout's and the analysis Jobs' stand-ins, the
project's custom checks, skips without a reason, the Dockerfile. checkov is slow to start, so its
faults, each in a resource of its own, share one planted copy and one run."""

import pytest

from checks.deploy import checkov_k8s, secrets
from checks.deploy.render import render
from conftest import DEPLOY, Planted, assert_found, fails_on

ANALYSIS = "deploy/k8s/base/analysistemplate.yaml"
P95 = "count: 3\n      consecutiveSuccessLimit: 1\n      failureLimit: 0\n      inconclusiveLimit: 2\n      consecutiveErrorLimit: 6\n      successCondition: len(result) == 1 && result[0] < 1\n"
P95_FAULTY = P95.replace("count: 3", "count: 1").replace("len(result) == 1 &&", "len(result) == 0 ||")
SLACK = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chat\ndata:\n  url: https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx\n"
PROD_SECRET = "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: development-only\n"

CHECKOV_FAULTS = {
    "an added SYS_ADMIN capability": (lambda r: r.replace("deploy/k8s/base/migrate-job.yaml", '              drop: ["ALL"]\n', '              drop: ["ALL"]\n              add: ["SYS_ADMIN"]\n'),
                                      "Job echodiary/echodiary-migrate (deploy/k8s/base/migrate-job.yaml): Job.echodiary.echodiary-migrate: CKV_K8S_39"),
    "a Rollout pod with the service account token": (lambda r: r.replace("deploy/k8s/base/rollout.yaml", "      automountServiceAccountToken: false\n", ""),
                                                     "Rollout echodiary/echodiary (deploy/k8s/base/rollout.yaml) (its pod template, checked as a Deployment): Deployment.echodiary.echodiary: CKV_K8S_38"),
    "a privileged smoke-test Job": (lambda r: r.replace("deploy/k8s/base/smoke/analysistemplate.yaml", "privileged: false", "privileged: true"),
                                    "AnalysisTemplate echodiary/echodiary-smoke-test (deploy/k8s/base/smoke/analysistemplate.yaml) (its Job, checked as a Job): Job.echodiary.echodiary-smoke-test.smoke-test: CKV_K8S_16"),
    "no memory limit": (lambda r: r.replace("deploy/k8s/base/postgres-exporter.yaml", "              cpu: 250m\n              memory: 128Mi\n", "              cpu: 250m\n"),
                        "Deployment.echodiary.postgres-exporter: CKV_K8S_13"),
    "the latest tag": (lambda r: r.replace("deploy/k8s/monitoring/base/alertmanager.yaml", "prom/alertmanager:v0.34.0", "prom/alertmanager:latest"),
                       "Deployment.monitoring.alertmanager: CKV_K8S_14"),
    "no readiness probe": (lambda r: r.sub("deploy/k8s/monitoring/base/prometheus.yaml", r"          readinessProbe:\n(?:            .*\n)+", ""),
                           "Deployment.monitoring.prometheus: CKV_K8S_9"),
    "the host network": (lambda r: r.replace("deploy/k8s/monitoring/base/kube-state-metrics.yaml", "      automountServiceAccountToken: true\n", "      automountServiceAccountToken: true\n      hostNetwork: true\n"),
                         "Deployment.monitoring.kube-state-metrics: CKV_K8S_19"),
    "a root container": (lambda r: r.replace("deploy/k8s/base/backup/cronjob.yaml", "runAsNonRoot: true\n            runAsUser: 65532", "runAsNonRoot: false\n            runAsUser: 0"),
                         "CronJob.echodiary.echodiary-backup: CKV_K8S_23"),
    "a skip without a reason": (lambda r: r.sub("deploy/k8s/overlays/local/postgres.yaml", r"checkov.io/skip1: >-\n      CKV_K8S_15=[^\n]*\n[^\n]*\n", "checkov.io/skip1: CKV_K8S_15\n"),
                                "StatefulSet echodiary/postgres (deploy/k8s/overlays/local/postgres.yaml): skips CKV_K8S_15 without a reason"),
    "a repository-wide skip without a justification": (lambda r: r.replace(".checkov.yaml", "skip-check: []", "skip-check:\n  - CKV_K8S_21"),
                                                       ".checkov.yaml: skip of CKV_K8S_21 has no justification"),
    "a Dockerfile running as root": (lambda r: r.replace("Dockerfile", "USER 65532:65532\n", ""), "Dockerfile:"),
    "an Application that does not self-heal": (lambda r: r.replace("deploy/argocd/applications/echodiary-monitoring.yaml", "      selfHeal: true\n", ""),
                                               "Application argocd/echodiary-monitoring (deploy/argocd/applications/echodiary-monitoring.yaml): Application.argocd.echodiary-monitoring: CKV_ECHO_1 ArgoCD Application syncs automatically with prune, selfHeal and retry; syncPolicy lacks automated.selfHeal"),
    "an analysis window unlike its interval": (lambda r: r.replace(ANALYSIS, "interval: 5m", "interval: 1m"), "metric error-ratio: range [5m] differs from interval 1m"),
    "an analysis with one condition": (lambda r: r.replace(ANALYSIS, "      failureCondition: len(result) == 1 && result[0] >= 0.05\n", ""), "metric error-ratio: needs both successCondition and failureCondition"),
    "an analysis that passes on no traffic": (lambda r: r.replace(ANALYSIS, P95, P95_FAULTY), "metric latency-p95: successCondition 'len(result) == 0 || result[0] < 1' passes an empty or NaN result"),
    "an analysis without a minimum-count guard": (lambda r: r.sub(ANALYSIS, r"(\[5m\]\)\)\)\n)            and on \(\)\n            \(\n(?:.*\n)+?            \)\n", r"\1"),
                                                  "metric latency-p95: the query has no minimum-count guard"),
    "an endless analysis": (lambda r: r.sub(ANALYSIS, r"(- name: error-ratio\n(?:      .*\n)*?)      count: 3\n", r"\1"),
                            "metric error-ratio: no count: an endless metric ends Successful"),
    "analysis limits Argo Rollouts rejects": (lambda r: None, "CKV_ECHO_3 Argo Rollouts analysis metric limits are valid; metric latency-p95: count (1) must be >= inconclusiveLimit (2)"),
}


def checkov(repo: Planted) -> list[str]:
    roots, _ = render(repo.root)
    return checkov_k8s.check(repo.root, roots).problems


def test_checkov_passes_the_repository_as_committed(deploy_copy):
    assert checkov(deploy_copy()) == []


@pytest.fixture(scope="module")
def checkov_on_faults(tmp_path_factory):
    repo = Planted(tmp_path_factory.mktemp("faults") / "repo", *DEPLOY)
    for plant_fault, _ in CHECKOV_FAULTS.values():
        plant_fault(repo)
    return checkov(repo)


@pytest.mark.parametrize("fault", CHECKOV_FAULTS)
def test_checkov_fails_on(checkov_on_faults, fault):
    assert_found(checkov_on_faults, CHECKOV_FAULTS[fault][1])


SECRET_FAULTS = {
    "a Secret outside the local overlay": (lambda r: r.append("deploy/k8s/base/pdb.yaml", PROD_SECRET),
                                           "k8s-overlays-prod: Secret echodiary/token (deploy/k8s/base/pdb.yaml): secret-in-git: a Secret with values (token) outside the local overlay"),
    "a random-looking development value": (lambda r: r.replace("deploy/k8s/overlays/local/secret.yaml", "local-dev-password", "q7Vx2Lp9ZkR4mW8tN3bY"),
                                           "secret-in-git: database-url holds a random-looking value"),
    "a webhook URL in a ConfigMap": (lambda r: r.append("deploy/k8s/base/pdb.yaml", SLACK), "ConfigMap echodiary/chat (deploy/k8s/base/pdb.yaml): secret-pattern: holds what looks like a Slack webhook URL"),
}


def test_no_secret_in_the_repository_as_committed(deploy_copy):
    repo = deploy_copy()
    assert secrets.check(repo.root, render(repo.root)[0]).problems == []


@pytest.mark.parametrize("fault", SECRET_FAULTS)
def test_the_secrets_stage_fails_on(deploy_copy, fault):
    fails_on(deploy_copy(), SECRET_FAULTS[fault], lambda repo: secrets.check(repo.root, render(repo.root)[0]).problems)
