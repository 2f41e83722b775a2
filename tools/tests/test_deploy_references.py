"""The references and Argo stages of the deploy check fail on a copy of the repository with one
planted fault, naming the resource and its file; the repository as committed passes them."""

import pytest

from checks.deploy import argo, references
from checks.deploy.render import render
from conftest import fails_on

ROLLOUT = "deploy/k8s/base/rollout.yaml"
PROJECT = "deploy/argocd/project.yaml"
NOTIFICATIONS = "deploy/argocd/notifications/argocd-notifications-cm.yaml"
GUARD = "deploy/k8s/base/migrate-guard/rbac.yaml"
SMOKE_STEP = "        - analysis:\n            templates:\n              - templateName: echodiary-smoke-test\n"
MIGRATE = "Job echodiary/echodiary-migrate (deploy/k8s/base/migrate-job.yaml): migration-guard: "


def problems(repo) -> list[str]:
    roots, _ = render(repo.root)
    return references.check(repo.root, roots).problems + argo.check(repo.root, roots).problems


def test_the_repository_as_committed_refers_only_to_what_exists(deploy_copy):
    assert problems(deploy_copy()) == []


FAULTS = {
    "a Secret key that is not there": (lambda r: r.replace(ROLLOUT, "- key: jwt-secret", "- key: jwt_secret"),
                                       "Rollout echodiary/echodiary (deploy/k8s/base/rollout.yaml): refs: volume secrets: Secret 'echodiary-secrets' has no key 'jwt_secret'"),
    "a Secret that is not there": (lambda r: r.replace(ROLLOUT, "secretName: echodiary-secrets", "secretName: echodiary-secret"),
                                   "names Secret 'echodiary-secret', which is not in this root"),
    "a ConfigMap that is not there": (lambda r: r.replace(ROLLOUT, "name: echodiary-config", "name: echodiary-configuration"),
                                      "container echodiary envFrom names ConfigMap 'echodiary-configuration'"),
    "an Ingress backend port that is not there": (lambda r: r.replace("deploy/k8s/base/ingress.yaml", "                  name: http", "                  name: https"),
                                                  "refs: backend: Service 'echodiary' has no port 'https'"),
    "a ClusterSecretStore that does not admit the namespace": (lambda r: r.replace("deploy/k8s/platform/cluster-secret-store.yaml", "        - monitoring\n", ""),
                                                               "refs: secretStoreRef: ClusterSecretStore 'aws-ssm' has no namespace 'monitoring'"),
    "a Service selecting no pod": (lambda r: r.replace("deploy/k8s/base/services.yaml", "  selector:\n    app.kubernetes.io/name: echodiary\n", "  selector:\n    app.kubernetes.io/name: echodiary-api\n"),
                                   "matches no pod template in this root"),
    "an analysis template that is not there": (lambda r: r.replace(ROLLOUT, "templateName: echodiary-canary", "templateName: echodiary-canery"),
                                               "refs: analysis names AnalysisTemplate 'echodiary-canery', which is not in this root"),
    "a canary Service that is not there": (lambda r: r.replace(ROLLOUT, "canaryService: echodiary-canary", "canaryService: echodiary-preview"),
                                           "refs: strategy canaryService names Service 'echodiary-preview', which is not in this root"),
    "a kind the AppProject does not permit": (lambda r: r.replace(PROJECT, "    - group: batch\n      kind: Job\n", ""),
                                              "Job echodiary/echodiary-migrate (deploy/k8s/base/migrate-job.yaml) (of Application echodiary): argocd-project: batch/Job is not permitted by AppProject echodiary"),
    "a destination the AppProject does not allow": (lambda r: r.replace("deploy/argocd/applications/echodiary.yaml", "    namespace: echodiary\n  syncPolicy", "    namespace: echodiary-prod\n  syncPolicy"),
                                                    "argocd-project: destination"),
    "a trigger sending a template that is not there": (lambda r: r.replace(NOTIFICATIONS, "send: [app-sync-failed]", "send: [app-sync-fail]"),
                                                       "notifications: trigger.on-sync-failed sends template 'app-sync-fail', which is not defined"),
    "a subscription to a trigger that is not there": (lambda r: r.replace("deploy/argocd/applications/echodiary.yaml", "subscribe.on-sync-failed.chat", "subscribe.on-sync-failure.chat"),
                                                      "trigger 'on-sync-failure' is not defined in argocd-notifications-cm"),
    "a service using a key the Secret lacks": (lambda r: r.replace(NOTIFICATIONS, "url: $chat-webhook-url", "url: $slack-webhook-url"),
                                               "uses $slack-webhook-url, which is not a key of Secret argocd-notifications-secret"),
    "a canary without its smoke test": (lambda r: r.replace(ROLLOUT, SMOKE_STEP, ""),
                                        "Rollout echodiary/echodiary (deploy/k8s/base/rollout.yaml): canary-smoke-test: no smoke test among the canary steps"),
    "a migration without its guard": (lambda r: r.sub("deploy/k8s/base/migrate-job.yaml", r"            - name: ROLLOUT\n              value: echodiary\n", ""),
                                      MIGRATE + "migrates with no guard"),
    "a guard its Role does not allow": (lambda r: r.replace(GUARD, 'verbs: ["get"]', 'verbs: ["list"]'),
                                        MIGRATE + "ServiceAccount 'echodiary-migrate' may not get Rollout 'echodiary'"),
    "a guard's Role applied after the Job": (lambda r: r.sub(GUARD, r"(kind: Role\n(?:.*\n)*?    argocd\.argoproj\.io/sync-wave: )\"-1\"", r'\1"0"'),
                                             "is not a PreSync hook of an earlier sync wave than the Job (0)"),
    "an optional secret that degrades the Application": (lambda r: r.replace("deploy/k8s/monitoring/prod/externalsecret.yaml", '    argocd.argoproj.io/ignore-healthcheck: "true"\n', ""),
                                                         "(deploy/k8s/monitoring/prod/externalsecret.yaml): optional-secret-health: every pod uses Secret"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_reference_and_argo_stages_fail_on(deploy_copy, fault):
    fails_on(deploy_copy(), FAULTS[fault], problems)
