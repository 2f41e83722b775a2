"""Stage references: what a root's manifests refer to exists in that root.

Mistakes every schema accepts and that only show in the cluster: a pod stuck in
CreateContainerConfigError (a Secret, ConfigMap, key, ServiceAccount or claim that is not there; a
Secret counts when an ExternalSecret targets it, with its keys where they can be known), a Service,
PodDisruptionBudget or NetworkPolicy selecting no pod, an Ingress backend or a Rollout's Service
that does not exist, an analysis template that is not there, an ExternalSecret's store missing.
An AnalysisTemplate's Job (provider.job) is a pod template like any other."""

from pathlib import Path

from checks.deploy.render import Root, group
from checks.findings import Findings

WELL_KNOWN = {("ConfigMap", "kube-root-ca.crt")}  # put into every namespace by Kubernetes itself
TEMPLATES = {"Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"),
             "DaemonSet": ("spec", "template"), "ReplicaSet": ("spec", "template"),
             "Rollout": ("spec", "template"), "Job": ("spec", "template"),
             "CronJob": ("spec", "jobTemplate", "spec", "template")}


def dig(node, *keys):
    for part in keys:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def meta(doc: dict) -> dict:
    return doc.get("metadata") or {}


def find(docs: list[dict], kind: str, name, namespace=None, api_group: str | None = None) -> dict | None:
    for doc in docs:
        ns = meta(doc).get("namespace")
        if doc.get("kind") == kind and meta(doc).get("name") == name and (api_group is None or group(doc) == api_group) \
                and not (namespace and ns and ns != namespace):
            return doc
    return None


def analysis_jobs(doc: dict):
    """(metric name, provider.job) of an Argo Rollouts (Cluster)AnalysisTemplate: Argo Rollouts runs
    that Job in the rollout's namespace, so its pod template is a workload like any other."""
    if doc.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate") and group(doc) == "argoproj.io":
        for metric in dig(doc, "spec", "metrics") or []:
            if isinstance(job := dig(metric, "provider", "job"), dict):
                yield str(metric.get("name", "?")), job


def pod_templates(docs: list[dict]):
    """(owning resource, pod template) of every workload, Pod and analysis Job."""
    for doc in docs:
        if doc.get("kind") in TEMPLATES and isinstance(template := dig(doc, *TEMPLATES[doc["kind"]]), dict):
            yield doc, template
        elif doc.get("kind") == "Pod":
            yield doc, {"metadata": doc.get("metadata"), "spec": doc.get("spec")}
        for _, job in analysis_jobs(doc):
            if isinstance(template := dig(job, "spec", "template"), dict):
                yield doc, template


def secret_keys(docs: list[dict], name, namespace=None):
    """(exists, its keys or None where they cannot be known): a Secret, or an ExternalSecret's target."""
    if secret := find(docs, "Secret", name, namespace, ""):
        return True, set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc.get("kind") != "ExternalSecret" or (dig(spec, "target", "name") or meta(doc).get("name")) != name \
                or (namespace and meta(doc).get("namespace") not in (None, namespace)):
            continue
        template = dig(spec, "target", "template") or {}
        if spec.get("dataFrom") or template.get("templateFrom"):
            return True, None
        keys = {d.get("secretKey") for d in spec.get("data") or []}
        if template.get("data") is not None:
            keys = set(template["data"]) | (keys if template.get("mergePolicy") == "Merge" else set())
        return True, keys
    return False, None


def uses(pod: dict):
    """(what, kind, name, key or None, optional) for every Secret and ConfigMap a pod uses."""
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        what = f"container {container.get('name')}"
        for env in container.get("env") or []:
            for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                if ref := dig(env, "valueFrom", ref_key):
                    yield f"{what} env {env.get('name')}", kind, ref.get("name"), ref.get("key"), ref.get("optional") is True
        for env_from in container.get("envFrom") or []:
            for ref_key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                if ref := env_from.get(ref_key):
                    yield f"{what} envFrom", kind, ref.get("name"), None, ref.get("optional") is True
    for volume in pod.get("volumes") or []:
        refs = [("Secret", volume.get("secret"), "secretName"), ("ConfigMap", volume.get("configMap"), "name")]
        refs += [(kind, source.get(field), "name") for source in dig(volume, "projected", "sources") or []
                 for kind, field in (("Secret", "secret"), ("ConfigMap", "configMap"))]
        for kind, ref, name_field in refs:
            if ref:
                for item_key in [None] + [i.get("key") for i in ref.get("items") or []]:
                    yield f"volume {volume.get('name')}", kind, ref.get(name_field), item_key, ref.get("optional") is True


def selector_matches(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) or a Service's plain map."""
    structured = "matchLabels" in selector or "matchExpressions" in selector
    if any(labels.get(k) != v for k, v in ((selector.get("matchLabels") if structured else selector) or {}).items()):
        return False
    tests = {"In": lambda v, vs: v in vs, "NotIn": lambda v, vs: v not in vs,
             "Exists": lambda v, vs: v is not None, "DoesNotExist": lambda v, vs: v is None}
    return all(tests[e["operator"]](labels.get(e.get("key")), e.get("values") or [])
               for e in (selector.get("matchExpressions") or [] if structured else []))


def check_root(root: Root, roots: list[Root], found: Findings) -> int:
    docs, pods, checked = root.docs, list(pod_templates(root.docs)), 0
    for doc, template in pods:
        pod, ns = template.get("spec") or {}, meta(doc).get("namespace")
        account = pod.get("serviceAccountName") or pod.get("serviceAccount")
        if account and account != "default" and not find(docs, "ServiceAccount", account, ns, ""):
            found.add(root.label(doc), f"refs: serviceAccountName {account!r} is not a ServiceAccount in this root")
        for what, kind, name, item_key, optional in uses(pod):
            checked += 1
            if optional or not name or (kind, name) in WELL_KNOWN:
                continue
            if kind == "Secret":
                exists, keys = secret_keys(docs, name, ns)
            else:
                cm = find(docs, "ConfigMap", name, ns, "")
                exists, keys = cm is not None, set((cm or {}).get("data") or {}) | set((cm or {}).get("binaryData") or {})
            if not exists:
                found.add(root.label(doc), f"refs: {what} names {kind} {name!r}, which is not in this root")
            elif item_key is not None and keys is not None and item_key not in keys:
                found.add(root.label(doc), f"refs: {what} names key {item_key!r} of {kind} {name!r}, which has only "
                                           f"{', '.join(sorted(k for k in keys if k)) or 'no keys'}")
        for volume in pod.get("volumes") or []:
            claim = dig(volume, "persistentVolumeClaim", "claimName")
            if claim and not find(docs, "PersistentVolumeClaim", claim, ns, ""):
                found.add(root.label(doc), f"refs: volume {volume.get('name')} claims {claim!r}, not in this root")

    for doc in docs:
        kind, ns, spec = doc.get("kind"), meta(doc).get("namespace"), doc.get("spec") or {}
        labels = [dig(t, "metadata", "labels") or {} for d, t in pods if meta(d).get("namespace") in (None, ns)]
        selector = {"Service": spec.get("selector"), "PodDisruptionBudget": spec.get("selector"),
                    "NetworkPolicy": spec.get("podSelector")}.get(kind)
        if selector:
            checked += 1
            if not any(selector_matches(selector, pod_labels) for pod_labels in labels):
                found.add(root.label(doc), f"refs: selector {selector} matches no pod template in this root")
        if kind == "Ingress":
            paths = [p for rule in spec.get("rules") or [] for p in dig(rule, "http", "paths") or []]
            for service in [dig(spec, "defaultBackend", "service")] + [dig(p, "backend", "service") for p in paths]:
                if service:
                    checked += 1
                    target, port = find(docs, "Service", service.get("name"), ns, ""), service.get("port") or {}
                    ports = dig(target, "spec", "ports") or []
                    if not target:
                        found.add(root.label(doc), f"refs: backend Service {service.get('name')!r} is not in this root")
                    elif not any(port.get("name", object()) == p.get("name") or port.get("number", object()) == p.get("port") for p in ports):
                        found.add(root.label(doc), f"refs: backend port {port} is not a port of Service {service.get('name')!r}")
        if kind == "Rollout" and group(doc) == "argoproj.io":
            canary, blue_green = dig(spec, "strategy", "canary") or {}, dig(spec, "strategy", "blueGreen") or {}
            for field, name in (("canaryService", canary.get("canaryService")), ("stableService", canary.get("stableService")),
                                ("activeService", blue_green.get("activeService")),
                                ("previewService", blue_green.get("previewService"))):
                checked += 1
                if name and not find(docs, "Service", name, ns, ""):
                    found.add(root.label(doc), f"refs: strategy {field} {name!r} is not a Service in this root")
            analyses = [canary.get("analysis"), blue_green.get("prePromotionAnalysis"), blue_green.get("postPromotionAnalysis")]
            for template in [t for a in analyses + [s.get("analysis") for s in canary.get("steps") or []]
                             for t in (a or {}).get("templates") or []]:
                checked += 1
                if not template_of(template, root, roots):
                    found.add(root.label(doc), f"refs: analysis template {template.get('templateName')!r} is not an "
                                               f"AnalysisTemplate in this root")
        if kind == "ExternalSecret":
            store = spec.get("secretStoreRef") or {}
            cluster = store.get("kind") == "ClusterSecretStore"
            checked += 1
            target = anywhere(roots, "ClusterSecretStore", store.get("name")) if cluster else \
                find(docs, "SecretStore", store.get("name"), ns)
            if not target:
                found.add(root.label(doc), f"refs: secretStoreRef {store.get('kind', 'SecretStore')} {store.get('name')!r} "
                                           f"is not in {'any root' if cluster else 'this root'}")
            elif cluster and (allowed := [c.get("namespaces") or [] for c in dig(target, "spec", "conditions") or []]) \
                    and ns and not any(ns in namespaces for namespaces in allowed):
                found.add(root.label(doc), f"refs: ClusterSecretStore {store.get('name')!r} does not admit namespace {ns!r}")
    return checked


def anywhere(roots: list[Root], kind: str, name) -> dict | None:
    return next((d for r in roots for d in r.docs if d.get("kind") == kind and meta(d).get("name") == name), None)


def template_of(ref: dict, root: Root, roots: list[Root]) -> dict | None:
    """The (Cluster)AnalysisTemplate a Rollout's analysis names: a namespaced one in its root."""
    if ref.get("clusterScope"):
        return anywhere(roots, "ClusterAnalysisTemplate", ref.get("templateName"))
    return find(root.docs, "AnalysisTemplate", ref.get("templateName"), None, "argoproj.io")


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("references")
    checked = sum(check_root(r, roots, found) for r in roots if r.mode != "files")  # loose files go one by one
    found.summary = f"{checked} reference(s) in {len(roots)} root(s)"
    return found
