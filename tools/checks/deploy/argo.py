"""Stage argo: the rules of ArgoCD and Argo Rollouts across roots, which no schema and no checkov
check knows. Each fails only in the cluster, as a sync ArgoCD refuses, a notification that never
arrives, a migration in the middle of a canary or an Application Degraded for an optional secret.

- argocd-project: an Application's AppProject exists, allows its repository and destination, and
  permits every resource its path renders (ArgoCD syncs nothing else).
- notifications: the notification ConfigMaps of ArgoCD and Argo Rollouts parse; a trigger sends
  existing templates, a template posts to an existing webhook service, a service's `$key` is a key of
  the notifications Secret, and a subscription annotation names a trigger and a service that exist.
- migration-guard: a PreSync migration Job in a root with a Rollout first waits for it to settle: an
  initContainer with env ROLLOUT naming it, a token, RBAC to get it, and all of that PreSync hooks of
  an earlier wave than the Job.
- canary-smoke-test: a canary with steps runs a smoke test (an analysis step after the first
  setWeight whose template runs a Job) and has a canaryService for it.
- optional-secret-health: an ExternalSecret that every pod uses only optionally is annotated
  argocd.argoproj.io/ignore-healthcheck: "true"."""

import fnmatch
import json
import re
from pathlib import Path

import yaml

from checks.deploy.references import analysis_jobs, pod_templates, secret_keys, target, template_kind, uses
from checks.deploy.render import Root, anywhere, dig, find, group, meta
from checks.findings import Findings

HOOK, WAVE = "argocd.argoproj.io/hook", "argocd.argoproj.io/sync-wave"
IGNORE_HEALTH = "argocd.argoproj.io/ignore-healthcheck"
SUBSCRIBE = re.compile(r"^notifications\.argoproj\.io/subscribe\.([^.]+)\.(.+)$")
# engine: (its ConfigMap, its Secret, kinds that subscribe, built-in triggers and templates)
ENGINES = {
    "argocd": ("argocd-notifications-cm", "argocd-notifications-secret", {"Application", "AppProject"}, set()),
    "rollouts": ("argo-rollouts-notification-configmap", "argo-rollouts-notification-secret", {"Rollout"},
                 {f"{prefix}{event}" for event in ("rollout-completed", "scaling-replicaset", "rollout-step-completed",
                                                   "rollout-updated", "rollout-aborted", "rollout-paused",
                                                   "analysis-run-running", "analysis-run-error", "analysis-run-failed")
                  for prefix in ("", "on-")} | {"on-scaling-replica-set"}),
}
CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass", "APIService", "ClusterSecretStore",
                  "ClusterExternalSecret", "ClusterAnalysisTemplate", "ClusterIssuer", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def glob(pattern, value) -> bool:
    return pattern in (None, "*") or fnmatch.fnmatchcase(value or "", pattern)


def listed(entries, api_group, kind) -> bool:
    return any(glob(e.get("group"), api_group) and glob(e.get("kind"), kind) for e in entries or [])


def destination_allowed(project: dict, destination: dict, namespace) -> bool:
    return any((glob(d.get("server"), destination["server"]) if "server" in destination else glob(d.get("name"), destination.get("name")))
               and glob(d.get("namespace"), namespace or "") for d in project.get("destinations") or [])


def argocd_project(roots: list[Root], found: Findings) -> None:
    for root in roots:
        for app in (d for d in root.docs if d.get("kind") == "Application" and group(d) == "argoproj.io"):
            spec, name = app.get("spec") or {}, meta(app).get("name")
            if not (project_doc := anywhere(roots, "AppProject", spec.get("project"))):
                if spec.get("project") != "default":  # ArgoCD's own project, unless the repository defines one
                    found.add(root.label(app), f"argocd-project: project {spec.get('project')!r} is not an AppProject in any root")
                continue
            project, destination, of = project_doc.get("spec") or {}, spec.get("destination") or {}, f"AppProject {spec['project']}"
            for source in filter(None, [spec.get("source"), *(spec.get("sources") or [])]):
                if not any(glob(p, source.get("repoURL")) for p in project.get("sourceRepos") or []):
                    found.add(root.label(app), f"argocd-project: repoURL {source.get('repoURL')!r} is not in {of}'s sourceRepos")
            if not destination_allowed(project, destination, destination.get("namespace")):
                found.add(root.label(app), f"argocd-project: destination {destination} is not in {of}'s destinations")
            for synced in (r for r in roots if f"Application {name}" in r.why):
                for doc in synced.docs:
                    what, api_group, kind = f"{synced.label(doc)} (of Application {name})", group(doc), doc.get("kind")
                    # A namespaced kind is permitted unless a whitelist leaves it out; a cluster-scoped one only if listed.
                    scope = "cluster" if kind in CLUSTER_SCOPED else "namespace"
                    white = project.get(f"{scope}ResourceWhitelist")
                    if ((white is not None or scope == "cluster") and not listed(white, api_group, kind)) or \
                            listed(project.get(f"{scope}ResourceBlacklist"), api_group, kind):
                        scoped = "cluster-scoped " if scope == "cluster" else ""
                        found.add(what, f"argocd-project: {scoped}{api_group or 'core'}/{kind} is not permitted by {of}")
                    namespace = meta(doc).get("namespace") or destination.get("namespace")
                    if scope == "namespace" and not destination_allowed(project, destination, namespace):
                        found.add(what, f"argocd-project: namespace {namespace!r} is not a destination of {of}")


def notifications(roots: list[Root], found: Findings) -> None:
    defined = {}
    for engine, (cm_name, secret_name, _, builtin) in ENGINES.items():
        if not (root := next((r for r in roots if find(r.docs, "ConfigMap", cm_name)), None)):
            continue
        cm = find(root.docs, "ConfigMap", cm_name)
        data, where = cm.get("data") or {}, root.label(cm)
        names = {kind: {k.split(".", 1)[1] for k in data if k.startswith(f"{kind}.")} for kind in ("template", "trigger")}
        services = {k.split(".")[-1] for k in data if k.startswith("service.")}
        webhooks = {k.split(".", 2)[2] for k in data if k.startswith("service.webhook.")}
        defined[engine] = (names["trigger"] | builtin, services)
        secret = next((secret_keys(r.docs, secret_name) for r in roots if secret_keys(r.docs, secret_name)[0]), (False, None))
        for entry, text in data.items():
            try:
                value = yaml.safe_load(text) if entry.split(".")[0] in ("template", "trigger", "service") else None
            except yaml.YAMLError as error:
                found.add(where, f"notifications: {entry} is not valid YAML: {str(error).splitlines()[0]}")
                continue
            if entry.startswith("trigger."):
                for condition in value if isinstance(value, list) else [None]:
                    if not isinstance(condition, dict) or not condition.get("send"):
                        found.add(where, f"notifications: {entry} is not a list of conditions that each send templates")
                        continue
                    for template in set(condition["send"]) - names["template"] - builtin:
                        found.add(where, f"notifications: {entry} sends template {template!r}, which is not defined")
            elif entry.startswith("template.") and isinstance(value, dict):
                for hook in set(value.get("webhook") or {}) - webhooks:
                    found.add(where, f"notifications: {entry} posts to webhook {hook!r}, which is not a service")
            elif entry.startswith("service.") and (refs := set(re.findall(r"\$([\w.-]+)", json.dumps(value)))):
                exists, keys = secret
                if not exists:
                    found.add(where, f"notifications: {entry} uses a Secret {secret_name} no root creates")
                for ref in sorted(refs - (keys or refs)):
                    found.add(where, f"notifications: {entry} uses ${ref}, which is not a key of Secret {secret_name} "
                                     f"(has {', '.join(sorted(keys))})")
    for root in roots:
        for doc in root.docs:
            engine = next((e for e, spec in ENGINES.items() if doc.get("kind") in spec[2]), None)
            for match in filter(None, map(SUBSCRIBE.match, meta(doc).get("annotations") or {} if engine else ())):
                triggers, services = defined.get(engine, (set(), set()))
                for what, name, names in (("trigger", match[1], triggers), ("service", match[2], services)):
                    if name not in names:
                        found.add(root.label(doc), f"notifications: {match[0]}: {what} {name!r} is not defined in "
                                                   f"{ENGINES[engine][0]}")


def annotation(doc: dict, name: str) -> str:
    return str((meta(doc).get("annotations") or {}).get(name, "")).strip()


def wave(doc) -> int:
    return int(annotation(doc, WAVE)) if re.fullmatch(r"-?\d+", annotation(doc, WAVE)) else 0


def presync(doc) -> bool:
    return "PreSync" in [h.strip() for h in annotation(doc, HOOK).split(",")]


def allows_get(rule: dict, rollout: str) -> bool:
    """An RBAC rule that lets its subject get that Rollout."""
    return bool({"argoproj.io", "*"} & set(rule.get("apiGroups") or []) and {"rollouts", "*"} & set(rule.get("resources") or [])
                and {"get", "*"} & set(rule.get("verbs") or []) and rollout in (rule.get("resourceNames") or [rollout]))


def migration_guard(root: Root, found: Findings) -> None:
    rollouts = {meta(d).get("name") for d in root.docs if d.get("kind") == "Rollout" and group(d) == "argoproj.io"}
    for job in (d for d in root.docs if d.get("kind") == "Job" and presync(d) and rollouts):
        pod, ns, label = dig(job, "spec", "template", "spec") or {}, meta(job).get("namespace"), root.label(job)
        if not any("migrate" in " ".join(map(str, (c.get("command") or []) + (c.get("args") or [])))
                   for c in pod.get("containers") or []):
            continue
        guard, rollout = next(((c, e["value"]) for c in pod.get("initContainers") or [] for e in c.get("env") or []
                               if e.get("name") == "ROLLOUT" and e.get("value") in rollouts), (None, None))
        if not guard:
            found.add(label, f"migration-guard: migrates with no guard: no initContainer whose env ROLLOUT names "
                             f"a Rollout of this root ({', '.join(sorted(rollouts))}), so it can run mid-canary")
            continue
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        mounted = [volumes.get(m.get("name")) or {} for m in guard.get("volumeMounts") or []]
        account_name = pod.get("serviceAccountName") or "default"
        account = find(root.docs, "ServiceAccount", account_name, ns, "")
        automount = pod.get("automountServiceAccountToken", (account or {}).get("automountServiceAccountToken", True))
        if automount is False and not any(s.get("serviceAccountToken") for v in mounted for s in dig(v, "projected", "sources") or []):
            found.add(label, f"migration-guard: initContainer {guard.get('name')} has no token to ask the API with")
        grants = [(binding, role) for binding in root.docs if binding.get("kind") == "RoleBinding"
                  and any(s.get("kind") == "ServiceAccount" and s.get("name") == account_name for s in binding.get("subjects") or [])
                  and (role := find(root.docs, dig(binding, "roleRef", "kind") or "Role", dig(binding, "roleRef", "name"), ns))
                  and any(allows_get(rule, rollout) for rule in role.get("rules") or [])]
        if not grants:
            found.add(label, f"migration-guard: ServiceAccount {account_name!r} may not get Rollout {rollout!r}: "
                             "no RoleBinding of this root binds it to a Role allowing get on argoproj.io rollouts")
        configs = [cm for v in mounted if (cm := find(root.docs, "ConfigMap", dig(v, "configMap", "name"), ns, ""))]
        for doc in ([account] if account else []) + [d for pair in grants for d in pair] + configs:
            if not presync(doc) or wave(doc) >= wave(job):
                found.add(label, f"migration-guard: {doc.get('kind')} {meta(doc).get('name')} is not a PreSync hook of an "
                                 f"earlier sync wave than the Job ({wave(job)}): on the first sync it would not exist yet")


def canary_smoke_test(root: Root, roots: list[Root], found: Findings) -> None:
    for rollout in (d for d in root.docs if d.get("kind") == "Rollout" and group(d) == "argoproj.io"):
        canary = dig(rollout, "spec", "strategy", "canary") or {}
        steps = canary.get("steps") or []
        first = next((i for i, s in enumerate(steps) if (s or {}).get("setWeight") is not None), len(steps))
        if steps and not any(any(analysis_jobs(target(root, roots, template_kind(t), t.get("templateName")) or {}))
                             for s in steps[first + 1:] for t in dig(s, "analysis", "templates") or []):
            found.add(root.label(rollout), "canary-smoke-test: no smoke test among the canary steps: an `analysis` step "
                                           "after the first setWeight whose template runs a Job (provider.job)")
        if steps and not canary.get("canaryService"):
            found.add(root.label(rollout), "canary-smoke-test: no canaryService: a smoke test could not reach the canary alone")


def optional_secret_health(root: Root, found: Findings) -> None:
    optional = {}
    for _, template in pod_templates(root.docs):
        for _, kind, name, _, is_optional in uses(template.get("spec") or {}):
            if kind == "Secret":
                optional.setdefault(name, []).append(is_optional)
    for doc in (d for d in root.docs if d.get("kind") == "ExternalSecret"):
        secret = dig(doc, "spec", "target", "name") or meta(doc).get("name")
        if all(optional.get(secret) or [False]) and annotation(doc, IGNORE_HEALTH).lower() != "true":
            found.add(root.label(doc), f"optional-secret-health: every pod uses Secret {secret!r} optionally, but a "
                                       "missing parameter makes this ExternalSecret Degraded and with it the whole "
                                       f"Application: annotate it {IGNORE_HEALTH}: \"true\"")


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("argo")
    argocd_project(roots, found)
    notifications(roots, found)
    for root in (r for r in roots if r.mode != "files"):
        migration_guard(root, found)
        canary_smoke_test(root, roots, found)
        optional_secret_health(root, found)
    return found
