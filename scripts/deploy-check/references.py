"""Stage 5 of scripts/check-deploy.sh: what the manifests refer to exists, over the rendered roots.

    references.py OUT      (OUT/roots.json and OUT/rendered/<slug>.yaml from render.py)

Mistakes that every schema accepts and that only show in the cluster, as a pod stuck in
CreateContainerConfigError, a Service with no endpoints, a sync ArgoCD refuses or a notification
that never arrives:
  refs                  within a root: every Secret and ConfigMap a pod uses (env, envFrom, volumes,
                        projected volumes; not `optional: true`) exists, a Secret as a Secret or as an
                        ExternalSecret's target, and so does the key a secretKeyRef/configMapKeyRef
                        names (where the ExternalSecret's keys can be known); serviceAccountName; a
                        Service's, PodDisruptionBudget's and NetworkPolicy's selector matches a pod
                        template; an Ingress backend names an existing Service and port; a Rollout's
                        canary/stable Services and analysis templates exist; an ExternalSecret's
                        SecretStore (in the root) or ClusterSecretStore (in any root) exists.
  argocd-project        every Application's AppProject exists (any root; `default` is ArgoCD's own),
                        allows the Application's repository and destination, and permits every resource
                        the Application's path renders to (cluster- and namespace-resource white- and
                        blacklists, destination namespaces): ArgoCD refuses to sync anything else.
  notifications         ArgoCD's argocd-notifications-cm and Argo Rollouts'
                        argo-rollouts-notification-configmap: templates, triggers and services parse;
                        each trigger sends existing templates; each webhook a template posts to is a
                        service; each `$key` a service uses is a key of the notifications Secret (or
                        its ExternalSecret); each subscription annotation
                        (notifications.argoproj.io/subscribe.<trigger>.<service>) on an Application,
                        AppProject or Rollout names a trigger and a service that exist.
  migration-guard       (issue 13) a migration Job that is an ArgoCD PreSync hook (a container runs
                        `migrate`), in a root with a Rollout, first waits for that Rollout to settle:
                        an initContainer whose env ROLLOUT names a Rollout of the root, holding a token
                        (a projected serviceAccountToken volume mounted there, or the automounted one)
                        of the pod's ServiceAccount, which a RoleBinding of the root binds to a Role
                        allowing `get` on argoproj.io rollouts (that one, or all); that ServiceAccount,
                        Role, RoleBinding and every ConfigMap the initContainer mounts are PreSync hooks
                        of an earlier sync wave than the Job, or the very first sync could not start it.
  canary-smoke-test     (issue 13) a canary Rollout with steps runs a smoke test as one of them: an
                        `analysis` step after the first setWeight whose template runs a Job
                        (provider.job), and names a canaryService for it to reach the canary alone.
  optional-secret-health  an ExternalSecret whose target Secret every pod of the root uses only
                        optionally carries argocd.argoproj.io/ignore-healthcheck: "true": else a
                        missing optional parameter turns the whole Application Degraded.
A (Cluster)AnalysisTemplate's Job (provider.job) counts as a pod template for all of these.
An annotation policy.echodiary.dev/exempt "RULE: REASON" on the referring resource exempts it (printed).
Exit status 1 on any finding.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from pathlib import Path

import yaml

from rendered import analysis_jobs, rendered_roots

EXEMPT_ANNOTATION = "policy.echodiary.dev/exempt"
RULES = ("refs", "argocd-project", "notifications", "migration-guard", "canary-smoke-test", "optional-secret-health")
# Objects Kubernetes itself puts into every namespace.
WELL_KNOWN = {("ConfigMap", "kube-root-ca.crt")}
HOOK = "argocd.argoproj.io/hook"
WAVE = "argocd.argoproj.io/sync-wave"
IGNORE_HEALTH = "argocd.argoproj.io/ignore-healthcheck"
CLUSTER_SCOPED = {
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"), ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"), ("apiregistration.k8s.io", "APIService"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("external-secrets.io", "ClusterSecretStore"), ("external-secrets.io", "ClusterExternalSecret"),
    ("argoproj.io", "ClusterAnalysisTemplate"), ("cert-manager.io", "ClusterIssuer"),
}
WORKLOAD_TEMPLATES = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"), "Rollout": ("spec", "template"), "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
NOTIFICATION_ENGINES = {
    # engine: (ConfigMap, Secret, kinds whose annotations subscribe)
    "argocd": ("argocd-notifications-cm", "argocd-notifications-secret", {"Application", "AppProject"}),
    "rollouts": ("argo-rollouts-notification-configmap", "argo-rollouts-notification-secret", {"Rollout"}),
}
# Argo Rollouts' built-in triggers and templates (used when the ConfigMap does not define them).
ROLLOUTS_BUILTIN_TRIGGERS = {
    "on-rollout-completed", "on-scaling-replica-set", "on-rollout-step-completed", "on-rollout-updated",
    "on-rollout-aborted", "on-rollout-paused", "on-analysis-run-running", "on-analysis-run-error",
    "on-analysis-run-failed",
}
ROLLOUTS_BUILTIN_TEMPLATES = {
    "rollout-completed", "scaling-replicaset", "rollout-step-completed", "rollout-updated", "rollout-aborted",
    "rollout-paused", "analysis-run-running", "analysis-run-error", "analysis-run-failed",
}
SUBSCRIBE = re.compile(r"^notifications\.argoproj\.io/subscribe\.([^.]+)\.(.+)$")


def group_of(doc) -> str:
    api = str(doc.get("apiVersion", ""))
    return api.split("/")[0] if "/" in api else ""


def meta(doc) -> dict:
    return doc.get("metadata") or {}


def dig(node, *keys):
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) or a plain map (a Service's selector)."""
    if not selector:
        return True
    match_labels = selector.get("matchLabels") if ("matchLabels" in selector or "matchExpressions" in selector) \
        else selector
    for key, value in (match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or [] if "matchExpressions" in selector else []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class Root:
    def __init__(self, entry: dict, docs: list, origins: dict):
        self.entry, self.slug, self.docs, self.origins = entry, entry["slug"], docs, origins

    def label(self, doc) -> str:
        m = meta(doc)
        key = f"{doc.get('kind')}/{m.get('namespace', '')}/{m.get('name', '')}"
        where = f" ({self.origins[key]})" if key in self.origins else ""
        name = f"{m['namespace']}/{m.get('name')}" if m.get("namespace") else m.get("name")
        return f"{self.slug}: {doc.get('kind')} {name}{where}"

    def find(self, kind: str, name: str, namespace: str | None, group: str | None = None):
        for doc in self.docs:
            if doc.get("kind") != kind or meta(doc).get("name") != name:
                continue
            if group is not None and group_of(doc) != group:
                continue
            ns = meta(doc).get("namespace")
            if namespace and ns and ns != namespace:
                continue
            return doc
        return None

    def pod_templates(self):
        for doc in self.docs:
            path = WORKLOAD_TEMPLATES.get(doc.get("kind"))
            if path:
                template = dig(doc, *path)
                if isinstance(template, dict):
                    yield doc, template
            elif doc.get("kind") == "Pod":
                yield doc, {"metadata": doc.get("metadata"), "spec": doc.get("spec")}
            else:
                for _, job in analysis_jobs(doc):
                    template = dig(job, "spec", "template")
                    if isinstance(template, dict):
                        yield doc, template


class Checker:
    def __init__(self, roots: list[Root]):
        self.roots = roots
        self.failures: list[str] = []
        self.exemptions: list[str] = []
        self.checked = 0

    def fail(self, root: Root, doc, rule: str, message: str):
        annotations = meta(doc).get("annotations") or {}
        reason = None
        for entry in re.split(r"[;\n]", str(annotations.get(EXEMPT_ANNOTATION, ""))):
            match = re.fullmatch(r"\s*([a-z-]+)\s*:\s*(.{10,})", entry.strip(), re.S)
            if match and match.group(1) == rule:
                reason = match.group(2).strip()
        if reason:
            self.exemptions.append(f"{root.label(doc)}: {rule}: {message} -- exempt: {reason}")
        else:
            self.failures.append(f"{root.label(doc)}: {rule}: {message}")

    # ------------------------------------------------------------------------------------ refs

    def secret_keys(self, root: Root, name: str, namespace: str | None):
        """(exists, keys or None when they cannot be known)."""
        secret = root.find("Secret", name, namespace, "")
        if secret:
            return True, set((secret.get("data") or {})) | set((secret.get("stringData") or {}))
        for doc in root.docs:
            if doc.get("kind") != "ExternalSecret" or group_of(doc) != "external-secrets.io":
                continue
            spec = doc.get("spec") or {}
            target = (spec.get("target") or {}).get("name") or meta(doc).get("name")
            ns = meta(doc).get("namespace")
            if target != name or (namespace and ns and ns != namespace):
                continue
            template = (spec.get("target") or {}).get("template") or {}
            if spec.get("dataFrom") or template.get("templateFrom"):
                return True, None
            keys = {d.get("secretKey") for d in spec.get("data") or []}
            if template.get("data") is not None:
                template_keys = set(template.get("data") or {})
                keys = template_keys | keys if template.get("mergePolicy") == "Merge" else template_keys
            return True, keys
        return False, None

    def configmap_keys(self, root: Root, name: str, namespace: str | None):
        if ("ConfigMap", name) in WELL_KNOWN:
            return True, None
        configmap = root.find("ConfigMap", name, namespace, "")
        if configmap:
            return True, set((configmap.get("data") or {})) | set((configmap.get("binaryData") or {}))
        return False, None

    def check_ref(self, root, doc, what, kind, name, namespace, key=None, optional=False):
        if optional or not name:
            return
        self.checked += 1
        exists, keys = (self.secret_keys if kind == "Secret" else self.configmap_keys)(root, name, namespace)
        if not exists:
            source = "a Secret or an ExternalSecret's target" if kind == "Secret" else "a ConfigMap"
            self.fail(root, doc, "refs", f"{what} names {kind} {name!r}, which is not in this root ({source})")
        elif key is not None and keys is not None and key not in keys:
            self.fail(root, doc, "refs", f"{what} names key {key!r} of {kind} {name!r}, which has only "
                                         f"{', '.join(sorted(k for k in keys if k)) or 'no keys'}")

    def refs(self, root: Root):
        pods = list(root.pod_templates())
        for doc, template in pods:
            pod = template.get("spec") or {}
            ns = meta(doc).get("namespace")
            account = pod.get("serviceAccountName") or pod.get("serviceAccount")
            if account and account != "default":
                self.checked += 1
                if not root.find("ServiceAccount", account, ns, ""):
                    self.fail(root, doc, "refs", f"serviceAccountName {account!r} is not a ServiceAccount in this root")
            for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
                cname = f"container {container.get('name')}"
                for env in container.get("env") or []:
                    source = env.get("valueFrom") or {}
                    for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                        ref = source.get(ref_key)
                        if ref:
                            self.check_ref(root, doc, f"{cname} env {env.get('name')}", kind, ref.get("name"), ns,
                                           ref.get("key"), ref.get("optional") is True)
                for env_from in container.get("envFrom") or []:
                    for ref_key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                        ref = env_from.get(ref_key)
                        if ref:
                            self.check_ref(root, doc, f"{cname} envFrom", kind, ref.get("name"), ns,
                                           optional=ref.get("optional") is True)
            for volume in pod.get("volumes") or []:
                vname = f"volume {volume.get('name')}"
                if volume.get("secret"):
                    ref = volume["secret"]
                    self.check_ref(root, doc, vname, "Secret", ref.get("secretName"), ns, optional=ref.get("optional") is True)
                    for item in ref.get("items") or []:
                        self.check_ref(root, doc, vname, "Secret", ref.get("secretName"), ns, item.get("key"),
                                       ref.get("optional") is True)
                if volume.get("configMap"):
                    ref = volume["configMap"]
                    self.check_ref(root, doc, vname, "ConfigMap", ref.get("name"), ns, optional=ref.get("optional") is True)
                    for item in ref.get("items") or []:
                        self.check_ref(root, doc, vname, "ConfigMap", ref.get("name"), ns, item.get("key"),
                                       ref.get("optional") is True)
                for source in dig(volume, "projected", "sources") or []:
                    for ref_key, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                        ref = source.get(ref_key)
                        if ref:
                            self.check_ref(root, doc, vname, kind, ref.get("name"), ns, optional=ref.get("optional") is True)
                            for item in ref.get("items") or []:
                                self.check_ref(root, doc, vname, kind, ref.get("name"), ns, item.get("key"),
                                               ref.get("optional") is True)
                claim = dig(volume, "persistentVolumeClaim", "claimName")
                if claim:
                    self.checked += 1
                    if not root.find("PersistentVolumeClaim", claim, ns, ""):
                        self.fail(root, doc, "refs", f"{vname} claims PersistentVolumeClaim {claim!r}, not in this root")

        def template_labels(namespace):
            return [dig(t, "metadata", "labels") or {} for d, t in pods
                    if not namespace or not meta(d).get("namespace") or meta(d).get("namespace") == namespace]

        for doc in root.docs:
            kind, ns, spec = doc.get("kind"), meta(doc).get("namespace"), doc.get("spec") or {}
            if kind == "Service" and group_of(doc) == "" and spec.get("selector"):
                self.checked += 1
                if not any(selector_matches(spec["selector"], labels) for labels in template_labels(ns)):
                    self.fail(root, doc, "refs", f"selector {spec['selector']} matches no pod template in this root")
            elif kind == "PodDisruptionBudget" and spec.get("selector") is not None:
                self.checked += 1
                if not any(selector_matches(spec["selector"], labels) for labels in template_labels(ns)):
                    self.fail(root, doc, "refs", "selector matches no pod template in this root")
            elif kind == "NetworkPolicy" and (spec.get("podSelector") or {}):
                self.checked += 1
                if not any(selector_matches(spec["podSelector"], labels) for labels in template_labels(ns)):
                    self.fail(root, doc, "refs", f"podSelector {spec['podSelector']} matches no pod template in this root")
            elif kind == "Ingress" and group_of(doc) == "networking.k8s.io":
                backends = [spec.get("defaultBackend")] + [p.get("backend") for r in spec.get("rules") or []
                                                           for p in dig(r, "http", "paths") or []]
                for backend in backends:
                    service = (backend or {}).get("service")
                    if service:
                        self.check_service_port(root, doc, f"backend", service.get("name"), ns,
                                                (service.get("port") or {}))
            elif kind == "Rollout" and group_of(doc) == "argoproj.io":
                canary = dig(spec, "strategy", "canary") or {}
                blue_green = dig(spec, "strategy", "blueGreen") or {}
                for field, name in (("canaryService", canary.get("canaryService")),
                                    ("stableService", canary.get("stableService")),
                                    ("activeService", blue_green.get("activeService")),
                                    ("previewService", blue_green.get("previewService"))):
                    if name:
                        self.checked += 1
                        if not root.find("Service", name, ns, ""):
                            self.fail(root, doc, "refs", f"strategy {field} {name!r} is not a Service in this root")
                analyses = [canary.get("analysis")] + [s.get("analysis") for s in canary.get("steps") or []] + \
                    [blue_green.get("prePromotionAnalysis"), blue_green.get("postPromotionAnalysis")]
                for analysis in analyses:
                    for template in (analysis or {}).get("templates") or []:
                        self.checked += 1
                        kind_wanted = "ClusterAnalysisTemplate" if template.get("clusterScope") else "AnalysisTemplate"
                        found = root.find(kind_wanted, template.get("templateName"), ns, "argoproj.io") or \
                            (kind_wanted == "ClusterAnalysisTemplate" and self.anywhere(kind_wanted, template.get("templateName")))
                        if not found:
                            self.fail(root, doc, "refs", f"analysis template {template.get('templateName')!r} is not "
                                                         f"an {kind_wanted} in this root")
                traefik = dig(canary, "trafficRouting", "traefik", "weightedTraefikServiceName")
                if traefik:
                    self.checked += 1
                    if not root.find("TraefikService", traefik, ns):
                        self.fail(root, doc, "refs", f"trafficRouting.traefik TraefikService {traefik!r} is not in this root")
            elif kind == "ExternalSecret" and group_of(doc) == "external-secrets.io":
                store = spec.get("secretStoreRef") or {}
                store_kind = store.get("kind", "SecretStore")
                self.checked += 1
                found = self.anywhere("ClusterSecretStore", store.get("name")) if store_kind == "ClusterSecretStore" \
                    else root.find("SecretStore", store.get("name"), ns, "external-secrets.io")
                if not found:
                    self.fail(root, doc, "refs", f"secretStoreRef {store_kind} {store.get('name')!r} is not in "
                                                 f"{'any root' if store_kind == 'ClusterSecretStore' else 'this root'}")
                if store_kind == "ClusterSecretStore" and found:
                    allowed = [c.get("namespaces") or [] for c in dig(found[1], "spec", "conditions") or []]
                    if allowed and ns and not any(ns in namespaces for namespaces in allowed):
                        self.fail(root, doc, "refs", f"ClusterSecretStore {store.get('name')!r} does not admit "
                                                     f"namespace {ns!r} (spec.conditions)")

    # ------------------------------------------------------------------------------------ issue 13

    @staticmethod
    def wave(doc) -> int:
        try:
            return int(str((meta(doc).get("annotations") or {}).get(WAVE, "0")).strip())
        except ValueError:
            return 0

    @staticmethod
    def presync(doc) -> bool:
        hooks = str((meta(doc).get("annotations") or {}).get(HOOK, ""))
        return "PreSync" in [h.strip() for h in hooks.split(",")]

    def migration_guard(self, root: Root):
        rollouts = [d for d in root.docs if d.get("kind") == "Rollout" and group_of(d) == "argoproj.io"]
        if not rollouts:
            return
        for job in root.docs:
            if job.get("kind") != "Job" or group_of(job) != "batch" or not self.presync(job):
                continue
            pod = dig(job, "spec", "template", "spec") or {}
            runs_migrate = any("migrate" in " ".join(str(w) for w in (c.get("command") or []) + (c.get("args") or []))
                               for c in pod.get("containers") or [])
            if not runs_migrate:
                continue
            self.checked += 1
            ns = meta(job).get("namespace")
            names = {meta(r).get("name") for r in rollouts}
            guards = [c for c in pod.get("initContainers") or []
                      if any(e.get("name") == "ROLLOUT" and e.get("value") in names for e in c.get("env") or [])]
            if not guards:
                self.fail(root, job, "migration-guard",
                          f"migrates with no guard: no initContainer whose env ROLLOUT names a Rollout of this root "
                          f"({', '.join(sorted(n for n in names if n))}), so a migration can run mid-canary")
                continue
            guard = guards[0]
            rollout = next(e.get("value") for e in guard.get("env") or [] if e.get("name") == "ROLLOUT")
            volumes = {v.get("name"): v for v in pod.get("volumes") or []}
            mounted = [volumes.get(m.get("name")) or {} for m in guard.get("volumeMounts") or []]
            account_name = pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
            account = root.find("ServiceAccount", account_name, ns, "")
            automount = pod.get("automountServiceAccountToken")
            if automount is None:
                automount = (account or {}).get("automountServiceAccountToken", True) is not False
            projected = any(src.get("serviceAccountToken") for v in mounted
                            for src in dig(v, "projected", "sources") or [])
            if not automount and not projected:
                self.fail(root, job, "migration-guard", f"initContainer {guard.get('name')} has no token to ask the "
                                                        "API with (no projected serviceAccountToken volume mounted)")
            # RBAC: a RoleBinding of the root binding the account to a Role that may get the Rollout.
            allowed = False
            bindings = [b for b in root.docs if b.get("kind") == "RoleBinding" and group_of(b) == "rbac.authorization.k8s.io"
                        and any(sub.get("kind") == "ServiceAccount" and sub.get("name") == account_name
                                for sub in b.get("subjects") or [])]
            needed = [account] if account else []
            for binding in bindings:
                ref = binding.get("roleRef") or {}
                role = root.find(ref.get("kind", "Role"), ref.get("name"), ns, "rbac.authorization.k8s.io")
                if not role:
                    continue
                for rule in role.get("rules") or []:
                    if any(g in ("argoproj.io", "*") for g in rule.get("apiGroups") or []) and \
                            any(r in ("rollouts", "*") for r in rule.get("resources") or []) and \
                            any(v in ("get", "*") for v in rule.get("verbs") or []) and \
                            (not rule.get("resourceNames") or rollout in rule["resourceNames"]):
                        allowed = True
                        needed += [binding, role]
            if not allowed:
                self.fail(root, job, "migration-guard",
                          f"ServiceAccount {account_name!r} may not get Rollout {rollout!r}: no RoleBinding of this root "
                          "binds it to a Role allowing get on argoproj.io rollouts")
            for volume in mounted:
                name = dig(volume, "configMap", "name")
                if name and root.find("ConfigMap", name, ns, ""):
                    needed.append(root.find("ConfigMap", name, ns, ""))
            # What the guard needs must exist before a PreSync Job on the very first sync.
            for doc in needed:
                if doc.get("kind") == "ServiceAccount" and meta(doc).get("name") == "default":
                    continue
                if not self.presync(doc) or self.wave(doc) >= self.wave(job):
                    self.fail(root, job, "migration-guard",
                              f"{doc.get('kind')} {meta(doc).get('name')} is not a PreSync hook of an earlier sync wave "
                              f"than the Job ({self.wave(job)}): on the first sync it would not exist yet")

    def canary_smoke_test(self, root: Root):
        for rollout in root.docs:
            if rollout.get("kind") != "Rollout" or group_of(rollout) != "argoproj.io":
                continue
            canary = dig(rollout, "spec", "strategy", "canary") or {}
            steps = canary.get("steps") or []
            if not steps:
                continue
            self.checked += 1
            ns = meta(rollout).get("namespace")
            first_weight = next((i for i, step in enumerate(steps) if (step or {}).get("setWeight") is not None), None)
            smoke = False
            for i, step in enumerate(steps):
                if first_weight is None or i <= first_weight:
                    continue
                for template in dig(step, "analysis", "templates") or []:
                    kind = "ClusterAnalysisTemplate" if template.get("clusterScope") else "AnalysisTemplate"
                    found = root.find(kind, template.get("templateName"), ns, "argoproj.io") or \
                        (self.anywhere(kind, template.get("templateName")) or (None, None))[1]
                    if found and any(True for _ in analysis_jobs(found)):
                        smoke = True
            if not smoke:
                self.fail(root, rollout, "canary-smoke-test",
                          "no smoke test among the canary steps: an `analysis` step after the first setWeight whose "
                          "template runs a Job (provider.job); a canary without user traffic would go untested")
            if not canary.get("canaryService"):
                self.fail(root, rollout, "canary-smoke-test",
                          "no canaryService: a smoke test could not reach the canary pods alone")

    def optional_secret_health(self, root: Root):
        uses = {}  # secret name -> [optional?]
        for _, template in root.pod_templates():
            pod = template.get("spec") or {}
            for volume in pod.get("volumes") or []:
                ref = volume.get("secret")
                if ref and ref.get("secretName"):
                    uses.setdefault(ref["secretName"], []).append(ref.get("optional") is True)
                for source in dig(volume, "projected", "sources") or []:
                    if source.get("secret"):
                        uses.setdefault(source["secret"].get("name"), []).append(source["secret"].get("optional") is True)
            for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
                for env in container.get("env") or []:
                    ref = dig(env, "valueFrom", "secretKeyRef")
                    if ref:
                        uses.setdefault(ref.get("name"), []).append(ref.get("optional") is True)
                for env_from in container.get("envFrom") or []:
                    ref = env_from.get("secretRef")
                    if ref:
                        uses.setdefault(ref.get("name"), []).append(ref.get("optional") is True)
        for doc in root.docs:
            if doc.get("kind") != "ExternalSecret" or group_of(doc) != "external-secrets.io":
                continue
            target = dig(doc, "spec", "target", "name") or meta(doc).get("name")
            optional = uses.get(target)
            if not optional or not all(optional):
                continue
            self.checked += 1
            if str((meta(doc).get("annotations") or {}).get(IGNORE_HEALTH, "")).lower() != "true":
                self.fail(root, doc, "optional-secret-health",
                          f"every pod uses Secret {target!r} optionally, but a missing source parameter makes this "
                          f"ExternalSecret Degraded and with it the whole Application: annotate it {IGNORE_HEALTH}: "
                          "\"true\"")

    def check_service_port(self, root, doc, what, name, namespace, port):
        self.checked += 1
        service = root.find("Service", name, namespace, "")
        if not service:
            self.fail(root, doc, "refs", f"{what} Service {name!r} is not in this root")
            return
        ports = dig(service, "spec", "ports") or []
        if port.get("name") and not any(p.get("name") == port["name"] for p in ports):
            self.fail(root, doc, "refs", f"{what} port name {port['name']!r} is not a port of Service {name!r}")
        if port.get("number") and not any(p.get("port") == port["number"] for p in ports):
            self.fail(root, doc, "refs", f"{what} port {port['number']} is not a port of Service {name!r}")

    def anywhere(self, kind: str, name: str):
        for root in self.roots:
            for doc in root.docs:
                if doc.get("kind") == kind and meta(doc).get("name") == name:
                    return root, doc
        return None

    # ------------------------------------------------------------------------------------ ArgoCD

    def argocd(self):
        projects = {}
        for root in self.roots:
            for doc in root.docs:
                if doc.get("kind") == "AppProject" and group_of(doc) == "argoproj.io":
                    projects[meta(doc).get("name")] = doc
        app_roots = {}
        for root in self.roots:
            for why in root.entry.get("why") or []:
                match = re.match(r"^Application (\S+)", why)
                if match:
                    app_roots.setdefault(match.group(1), []).append(root)
        for root in self.roots:
            for app in root.docs:
                if app.get("kind") != "Application" or group_of(app) != "argoproj.io":
                    continue
                spec = app.get("spec") or {}
                project_name = spec.get("project")
                self.checked += 1
                if project_name == "default" and "default" not in projects:
                    continue
                project = projects.get(project_name)
                if not project:
                    self.fail(root, app, "argocd-project", f"project {project_name!r} is not an AppProject in any root")
                    continue
                pspec = project.get("spec") or {}
                sources = ([spec["source"]] if spec.get("source") else []) + list(spec.get("sources") or [])
                for source in sources:
                    repo = source.get("repoURL", "")
                    if not any(fnmatch.fnmatchcase(repo, pattern) or pattern == "*" for pattern in pspec.get("sourceRepos") or []):
                        self.fail(root, app, "argocd-project", f"repoURL {repo!r} is not in AppProject "
                                                               f"{project_name}'s sourceRepos")
                destination = spec.get("destination") or {}
                dest_ns = destination.get("namespace")
                if not self.destination_allowed(pspec, destination, dest_ns):
                    self.fail(root, app, "argocd-project", f"destination {destination} is not in AppProject "
                                                           f"{project_name}'s destinations")
                for target in app_roots.get(meta(app).get("name"), []):
                    self.project_permits(root, app, project_name, pspec, destination, target)

    @staticmethod
    def glob(pattern, value) -> bool:
        return pattern in (None, "*") or fnmatch.fnmatchcase(value or "", pattern)

    def destination_allowed(self, pspec, destination, namespace) -> bool:
        for allowed in pspec.get("destinations") or []:
            server_ok = ("server" in destination and self.glob(allowed.get("server"), destination["server"])) or \
                ("name" in destination and self.glob(allowed.get("name"), destination["name"]))
            if server_ok and self.glob(allowed.get("namespace"), namespace or ""):
                return True
        return False

    def project_permits(self, root, app, project_name, pspec, destination, target: Root):
        def listed(entries, group, kind):
            return any(self.glob(e.get("group"), group) and self.glob(e.get("kind"), kind) for e in entries or [])

        for doc in target.docs:
            group, kind = group_of(doc), doc.get("kind")
            cluster = (group, kind) in CLUSTER_SCOPED
            what = f"{target.label(doc)} (of Application {meta(app).get('name')})"
            if cluster:
                allowed = listed(pspec.get("clusterResourceWhitelist"), group, kind) and \
                    not listed(pspec.get("clusterResourceBlacklist"), group, kind)
                if not allowed:
                    self.failures.append(f"{what}: argocd-project: cluster-scoped {group or 'core'}/{kind} is not "
                                         f"permitted by AppProject {project_name} (clusterResourceWhitelist)")
                continue
            white = pspec.get("namespaceResourceWhitelist")
            allowed = (white is None or listed(white, group, kind)) and \
                not listed(pspec.get("namespaceResourceBlacklist"), group, kind)
            if not allowed:
                self.failures.append(f"{what}: argocd-project: {group or 'core'}/{kind} is not permitted by AppProject "
                                     f"{project_name} (namespaceResourceWhitelist)")
            namespace = meta(doc).get("namespace") or destination.get("namespace")
            if not self.destination_allowed(pspec, destination, namespace):
                self.failures.append(f"{what}: argocd-project: namespace {namespace!r} is not a destination of "
                                     f"AppProject {project_name}")

    # ------------------------------------------------------------------------------------ notifications

    def notifications(self):
        configs = {}
        for engine, (cm_name, secret_name, kinds) in NOTIFICATION_ENGINES.items():
            found = self.anywhere("ConfigMap", cm_name)
            if not found:
                continue
            root, cm = found
            data = cm.get("data") or {}
            parsed = {}
            for key, value in data.items():
                if key.split(".")[0] in ("template", "trigger", "service", "context", "subscriptions", "defaultTriggers"):
                    try:
                        parsed[key] = yaml.safe_load(value)
                    except yaml.YAMLError as error:
                        self.fail(root, cm, "notifications", f"{key} is not valid YAML: {str(error).splitlines()[0]}")
            templates = {k.split(".", 1)[1] for k in data if k.startswith("template.")}
            triggers = {k.split(".", 1)[1] for k in data if k.startswith("trigger.")}
            services = set()
            for key in data:
                if key.startswith("service."):
                    parts = key.split(".")
                    services.add(parts[2] if len(parts) > 2 else parts[1])
            if engine == "rollouts":
                templates |= ROLLOUTS_BUILTIN_TEMPLATES
                triggers |= ROLLOUTS_BUILTIN_TRIGGERS
            webhooks = {k.split(".", 2)[2] for k in data if k.startswith("service.webhook.") and k.count(".") >= 2}
            for key, value in parsed.items():
                self.checked += 1
                if key.startswith("trigger."):
                    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
                        self.fail(root, cm, "notifications", f"{key} is not a list of conditions")
                        continue
                    for condition in value:
                        for template in condition.get("send") or []:
                            if template not in templates:
                                self.fail(root, cm, "notifications", f"{key} sends template {template!r}, "
                                                                     f"which is not defined (template.{template})")
                        if not condition.get("send"):
                            self.fail(root, cm, "notifications", f"{key} has a condition that sends nothing")
                elif key.startswith("template."):
                    if not isinstance(value, dict):
                        self.fail(root, cm, "notifications", f"{key} is not a mapping")
                        continue
                    for hook in (value.get("webhook") or {}):
                        if hook not in webhooks:
                            self.fail(root, cm, "notifications", f"{key} posts to webhook {hook!r}, which is not a "
                                                                 f"service (service.webhook.{hook})")
                elif key.startswith("service."):
                    refs = set(re.findall(r"\$([A-Za-z0-9_.-]+)", json.dumps(value)))
                    if refs:
                        exists, keys = self.secret_keys_anywhere(secret_name)
                        if not exists:
                            self.fail(root, cm, "notifications", f"{key} uses ${', $'.join(sorted(refs))} from Secret "
                                                                 f"{secret_name}, which no root creates")
                        elif keys is not None:
                            for ref in sorted(refs - keys):
                                self.fail(root, cm, "notifications", f"{key} uses ${ref}, which is not a key of "
                                                                     f"Secret {secret_name} (has {', '.join(sorted(keys))})")
            configs[engine] = (triggers, services)
        for root in self.roots:
            for doc in root.docs:
                for annotation in (meta(doc).get("annotations") or {}):
                    match = SUBSCRIBE.match(annotation)
                    if not match:
                        continue
                    engine = next((e for e, (_, _, kinds) in NOTIFICATION_ENGINES.items() if doc.get("kind") in kinds), None)
                    self.checked += 1
                    if engine is None:
                        continue
                    if engine not in configs:
                        self.fail(root, doc, "notifications", f"{annotation}: no {NOTIFICATION_ENGINES[engine][0]} "
                                                              "ConfigMap in any root defines triggers and services")
                        continue
                    triggers, services = configs[engine]
                    trigger, service = match.groups()
                    if trigger not in triggers:
                        self.fail(root, doc, "notifications", f"{annotation}: trigger {trigger!r} is not defined in "
                                                              f"{NOTIFICATION_ENGINES[engine][0]}")
                    if service not in services:
                        self.fail(root, doc, "notifications", f"{annotation}: service {service!r} is not defined in "
                                                              f"{NOTIFICATION_ENGINES[engine][0]}")

    def secret_keys_anywhere(self, name):
        for root in self.roots:
            exists, keys = self.secret_keys(root, name, None)
            if exists:
                return exists, keys
        return False, None


def main() -> int:
    out = Path(sys.argv[1])
    roots = []
    for entry, rendered, origins in rendered_roots(out):
        docs = [d for d in yaml.safe_load_all(rendered.read_text()) if isinstance(d, dict)]
        roots.append(Root(entry, docs, origins))
    checker = Checker(roots)
    for root in roots:
        if root.entry.get("mode") != "files":  # loose files are applied one by one, by hand
            checker.refs(root)
            checker.migration_guard(root)
            checker.canary_smoke_test(root)
            checker.optional_secret_health(root)
    checker.argocd()
    checker.notifications()
    for exemption in checker.exemptions:
        print(f"EXEMPT {exemption}")
    for failure in checker.failures:
        print(f"FAIL {failure}")
    print(f"references: {checker.checked} reference(s) in {len(roots)} root(s), {len(checker.failures)} problem(s)")
    if not roots:
        print("references: nothing rendered to check")
        return 1
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
