"""Stage references: what a root's manifests refer to exists in that root.

Mistakes every schema accepts and that only show in the cluster: a pod stuck in
CreateContainerConfigError (a Secret, ConfigMap, key, ServiceAccount or claim that is not there; a
Secret counts when an ExternalSecret targets it, with its keys where they can be known), a Service,
PodDisruptionBudget or NetworkPolicy selecting no pod, an Ingress backend (or its port) or a Rollout's
Service that does not exist, an analysis template that is not there, an ExternalSecret's store missing
(or a ClusterSecretStore that does not admit its namespace). An AnalysisTemplate's Job (provider.job)
is a pod template like any other."""

from pathlib import Path

from checks.deploy.render import Root, anywhere, dig, find, group, meta
from checks.findings import Findings

WELL_KNOWN = {("ConfigMap", "kube-root-ca.crt")}  # put into every namespace by Kubernetes itself
ITEM = {"Service": "port", "ClusterSecretStore": "namespace"}  # what a reference names inside a resource, else a key


def analysis_jobs(doc: dict):
    """(metric name, provider.job) of an Argo Rollouts (Cluster)AnalysisTemplate: Argo Rollouts runs
    that Job in the rollout's namespace, so its pod template is a workload like any other."""
    if doc.get("kind") in ("AnalysisTemplate", "ClusterAnalysisTemplate") and group(doc) == "argoproj.io":
        for metric in dig(doc, "spec", "metrics") or []:
            if isinstance(job := dig(metric, "provider", "job"), dict):
                yield str(metric.get("name", "?")), job


def pod_templates(docs: list[dict]):
    """(owning resource, pod template) of every workload, Pod (its own template) and analysis Job:
    whatever has spec.containers, at any depth (a CronJob's is under its jobTemplate)."""
    def templates(node):
        if isinstance(dig(node, "spec", "containers"), list):
            yield node
        else:
            yield from (t for value in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())
                        for t in templates(value))

    yield from ((doc, template) for doc in docs for template in templates(doc))


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


def target(root: Root, roots: list[Root], kind: str, name, namespace=None) -> dict | None:
    """The resource a reference names: a cluster-scoped kind in any root, any other in this one."""
    return anywhere(roots, kind, name) if kind.startswith("Cluster") else find(root.docs, kind, name, namespace)


def template_kind(ref: dict) -> str:
    """The kind of template a Rollout's analysis names."""
    return "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"


def items(doc: dict) -> set[str] | None:
    """What a reference may name inside a resource (None: anything): a ConfigMap's keys, a Service's
    ports (names and numbers), the namespaces a ClusterSecretStore's conditions admit."""
    if doc.get("kind") == "ConfigMap":
        return set(doc.get("data") or {}) | set(doc.get("binaryData") or {})
    if doc.get("kind") == "Service":
        return {str(p[k]) for p in dig(doc, "spec", "ports") or [] for k in ("name", "port") if k in p}
    if doc.get("kind") == "ClusterSecretStore" and (conditions := dig(doc, "spec", "conditions")):
        return {ns for condition in conditions for ns in condition.get("namespaces") or []}
    return None


def references(doc: dict):
    """(what, kind, name, item or None) for every resource a document names: its pods' ServiceAccount,
    claims, Secrets and ConfigMaps (with the key), an Ingress's Services (with the port), a Rollout's
    Services and analysis templates, an ExternalSecret's store (with its namespace, for a cluster store)."""
    spec = doc.get("spec") or {}
    for _, template in pod_templates([doc]):
        pod = template.get("spec") or {}
        if (account := pod.get("serviceAccountName") or pod.get("serviceAccount")) not in (None, "", "default"):
            yield "serviceAccountName", "ServiceAccount", account, None
        for volume in pod.get("volumes") or []:
            if claim := dig(volume, "persistentVolumeClaim", "claimName"):
                yield f"volume {volume.get('name')}", "PersistentVolumeClaim", claim, None
        for what, kind, name, key, optional in uses(pod):
            if name and not optional and (kind, name) not in WELL_KNOWN:
                yield what, kind, name, key
    if doc.get("kind") == "Ingress":
        paths = [p for rule in spec.get("rules") or [] for p in dig(rule, "http", "paths") or []]
        for service in filter(None, [dig(spec, "defaultBackend", "service"), *(dig(p, "backend", "service") for p in paths)]):
            port = service.get("port") or {}
            yield "backend", "Service", service.get("name"), str(port.get("name", port.get("number")))
    if doc.get("kind") == "Rollout" and group(doc) == "argoproj.io":
        canary, blue_green = dig(spec, "strategy", "canary") or {}, dig(spec, "strategy", "blueGreen") or {}
        for field, strategy in (("canaryService", canary), ("stableService", canary), ("activeService", blue_green),
                                ("previewService", blue_green)):
            if strategy.get(field):
                yield f"strategy {field}", "Service", strategy[field], None
        analyses = [canary.get("analysis"), blue_green.get("prePromotionAnalysis"), blue_green.get("postPromotionAnalysis")]
        for ref in (t for a in analyses + [s.get("analysis") for s in canary.get("steps") or []]
                    for t in (a or {}).get("templates") or []):
            yield "analysis", template_kind(ref), ref.get("templateName"), None
    if doc.get("kind") == "ExternalSecret":
        store = spec.get("secretStoreRef") or {}
        kind = store.get("kind", "SecretStore")
        namespace = meta(doc).get("namespace") if kind == "ClusterSecretStore" else None
        yield "secretStoreRef", kind, store.get("name"), namespace


def check_root(root: Root, roots: list[Root], found: Findings) -> int:
    pods, checked = list(pod_templates(root.docs)), 0
    for doc in root.docs:
        ns, spec = meta(doc).get("namespace"), doc.get("spec") or {}
        for what, kind, name, item in references(doc):
            checked += 1
            if kind == "Secret":
                exists, offered = secret_keys(root.docs, name, ns)
            else:
                resource = target(root, roots, kind, name, ns)
                exists, offered = resource is not None, items(resource or {})
            if not exists:
                found.add(root.label(doc), f"refs: {what} names {kind} {name!r}, which is not in "
                                           f"{'any root' if kind.startswith('Cluster') else 'this root'}")
            elif item is not None and offered is not None and item not in offered:
                found.add(root.label(doc), f"refs: {what}: {kind} {name!r} has no {ITEM.get(kind, 'key')} {item!r} "
                                           f"(only {', '.join(sorted(k for k in offered if k)) or 'none'})")
        selector = {"Service": spec.get("selector"), "PodDisruptionBudget": spec.get("selector"),
                    "NetworkPolicy": spec.get("podSelector")}.get(doc.get("kind"))
        if selector:
            checked += 1
            if not any(selector_matches(selector, dig(t, "metadata", "labels") or {})
                       for d, t in pods if meta(d).get("namespace") in (None, ns)):
                found.add(root.label(doc), f"refs: selector {selector} matches no pod template in this root")
    return checked


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("references")
    checked = sum(check_root(r, roots, found) for r in roots if r.mode != "files")  # loose files go one by one
    found.summary = f"{checked} reference(s) in {len(roots)} root(s)"
    return found
