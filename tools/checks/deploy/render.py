"""Stage render: every manifest under deploy/ as Kubernetes or ArgoCD would apply it.

Roots, each built with `kubectl kustomize` (offline, no Helm): every overlay (deploy/k8s/overlays/*);
every path an ArgoCD Application or ApplicationSet syncs (without a kustomization, read the way ArgoCD
reads it: a directory of plain manifests); every other kustomization nothing includes (a root nobody
renders would escape validation). Manifest files no root covers, and the manifests of Terraform's
YAML templates (the root Application the k3s user data applies) or of here-documents in scripts under
deploy/, become roots of their own, so nothing under deploy/ escapes the later stages. Every resource
remembers the repository file it came from, so a finding can name it. The helpers every stage uses to
read documents (meta, dig, group, find, anywhere) are here too."""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from checks.findings import Findings
from checks.terraform import render_template

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
SKIP_DIRS = {"terraform", ".terraform", "node_modules"}
HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_]\w*)\2[^\n]*\n(.*?)\n[ \t]*\3[ \t]*(?:\n|$)", re.S)
VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]\w*")
SCRIPTS = (".sh", ".bash", ".sh.tftpl", ".sh.tpl")
YAML_TEMPLATES = (".yaml.tftpl", ".yml.tftpl")


def meta(doc: dict) -> dict:
    return doc.get("metadata") or {}


def dig(node, *keys):
    for part in keys:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def group(doc: dict) -> str:
    api = str(doc.get("apiVersion", ""))
    return api.split("/")[0] if "/" in api else ""


def key(doc: dict) -> str:
    return f"{doc.get('kind')}/{meta(doc).get('namespace', '')}/{meta(doc).get('name', '')}"


def find(docs: list[dict], kind: str, name, namespace=None, api_group: str | None = None) -> dict | None:
    """The document of that kind and name (in that namespace or none, of that API group if given)."""
    for doc in docs:
        ns = meta(doc).get("namespace")
        if doc.get("kind") == kind and meta(doc).get("name") == name and (api_group is None or group(doc) == api_group) \
                and not (namespace and ns and ns != namespace):
            return doc
    return None


def anywhere(roots: list["Root"], kind: str, name) -> dict | None:
    return next((d for r in roots for d in r.docs if d.get("kind") == kind and meta(d).get("name") == name), None)


@dataclass
class Root:
    """One rendered root: its documents and, per "kind/namespace/name", the file it came from."""

    dir: str
    slug: str
    mode: str  # kustomize, directory or recurse (ArgoCD's plain directory) or files (applied one by one)
    why: list[str] = field(default_factory=list)
    docs: list[dict] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)

    def label(self, doc: dict) -> str:
        """`slug: Kind namespace/name (file)`: how a finding names a resource."""
        name = f"{meta(doc)['namespace']}/{meta(doc).get('name')}" if meta(doc).get("namespace") else meta(doc).get("name")
        where = f" ({self.origins[key(doc)]})" if key(doc) in self.origins else ""
        return f"{self.slug}: {doc.get('kind')} {name}{where}"


def is_manifest(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


def is_application(doc: dict) -> bool:
    return doc["kind"] in ("Application", "ApplicationSet") and group(doc) == "argoproj.io"


def yaml_files(top: Path, recurse: bool = True):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if recurse and d not in SKIP_DIRS and not d.startswith("."))
        yield from (Path(dirpath) / n for n in sorted(filenames) if n.endswith((".yaml", ".yml")) or n == "Kustomization")


def strings(node):
    if isinstance(node, str):
        yield node
    for value in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        yield from strings(value)


def embedded(repo: Path):
    """(file:line, manifest) in Terraform's YAML templates and in here-documents of scripts and
    templates under deploy/; a variable Terraform (or the shell) would expand becomes a placeholder."""
    for dirpath, dirnames, filenames in os.walk(repo / "deploy"):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "node_modules")
        for path in (Path(dirpath) / n for n in sorted(filenames)):
            if path.name.endswith(YAML_TEMPLATES):
                text = render_template(path.read_text(encoding="utf-8"))[0]
                yield from ((f"{path.relative_to(repo)} (template)", d) for d in yaml.safe_load_all(text) if is_manifest(d))
            elif path.name.endswith(SCRIPTS):
                text = path.read_text(encoding="utf-8", errors="replace")
                for match in HEREDOC.finditer(text):
                    body = match[4] if not match[1] else "\n".join(line.lstrip("\t") for line in match[4].splitlines())
                    if path.name.endswith((".tftpl", ".tpl")):
                        body = body.replace("$${", "${").replace("%%{", "%{")
                    body = body if match[2] else VARIABLE.sub("placeholder-of-a-variable", body)  # <<'EOF' expands nothing
                    try:
                        docs = [d for d in yaml.safe_load_all(body) if is_manifest(d)]
                    except yaml.YAMLError:
                        continue  # a here-document that is not YAML (a script, a config file)
                    line = text.count("\n", 0, match.start()) + 1
                    yield from ((f"{path.relative_to(repo)}:{line} (here-document)", d) for d in docs)


def build(directory: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "kustomize", *flags, str(directory)], capture_output=True, text=True)


def origin_index(repo: Path, directory: Path) -> dict[str, str]:
    """The file each resource of a kustomize root comes from, by a wrapper kustomization asking for
    origin annotations (the validated output is the plain build: the wrapper needs looser loading)."""
    index = {}
    with tempfile.TemporaryDirectory() as wrapper:
        Path(wrapper, "kustomization.yaml").write_text(yaml.safe_dump(
            {"resources": [os.path.relpath(directory, wrapper)], "buildMetadata": ["originAnnotations"]}))
        result = build(Path(wrapper), "--load-restrictor", "LoadRestrictionsNone")
        for doc in yaml.safe_load_all(result.stdout) if result.returncode == 0 else ():
            origin = yaml.safe_load(dig(doc, "metadata", "annotations", ORIGIN) or "{}")
            if where := origin.get("path") or origin.get("configuredIn"):
                generated = "" if "path" in origin else f" ({dig(origin, 'configuredBy', 'kind') or 'generator'})"
                index[key(doc)] = os.path.relpath(os.path.normpath(Path(wrapper) / where), repo) + generated
    return index


def render(repo: Path) -> tuple[list[Root], Findings]:
    found, deploy, roots = Findings("render"), repo / "deploy", {}
    kustomizations, referenced, manifests = {}, set(), {}
    for path in yaml_files(deploy) if deploy.is_dir() else ():
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except yaml.YAMLError as error:
            found.add(path.relative_to(repo).as_posix(), f"not valid YAML: {error}")
            continue
        if path.name in KUSTOMIZATIONS:
            kustomizations[path.parent] = docs[0] if docs and isinstance(docs[0], dict) else {}
            referenced |= {(path.parent / value.split("?")[0]).resolve() for value in strings(kustomizations[path.parent])
                           if "\n" not in value and len(value) < 300 and "://" not in value}
        elif kept := [d for d in docs if is_manifest(d)]:
            manifests[path] = kept
    here_docs = list(embedded(repo))
    applications = [(p.relative_to(repo).as_posix(), d) for p, docs in manifests.items() for d in docs if is_application(d)]
    applications += [(where.split(":")[0], d) for where, d in here_docs if is_application(d)]

    def add(directory: Path, why: str, mode: str = "kustomize"):
        rel = directory.relative_to(repo).as_posix()
        slug = re.sub(r"[^\w.-]+", "-", rel.removeprefix("deploy/")).strip("-") or "root"
        roots.setdefault(directory, Root(rel, slug, mode)).why.append(why)

    overlays = deploy / "k8s" / "overlays"
    for directory in sorted(p for p in overlays.iterdir() if p.is_dir()) if overlays.is_dir() else ():
        if any((directory / n).is_file() for n in KUSTOMIZATIONS):
            add(directory, "overlay")
        else:
            found.add(directory.relative_to(repo).as_posix(), "an overlay directory without a kustomization file")
    for where, app in applications:
        spec = dig(app, "spec", "template", "spec") if app["kind"] == "ApplicationSet" else app.get("spec")
        name = f"{app['kind']} {meta(app).get('name')}"
        for source in [(spec or {}).get("source")] + list((spec or {}).get("sources") or []):
            path = source.get("path") if isinstance(source, dict) else None
            # A Helm chart cannot be rendered offline, a `ref:` source only lends values files, and an
            # ApplicationSet's templated path is known only in the cluster.
            if not isinstance(source, dict) or source.get("chart") or source.get("ref") or "{{" in str(path):
                continue
            directory = (repo / path).resolve() if isinstance(path, str) and path else None
            if directory is None:
                found.add(f"{where}: {name}", "a source with neither path nor chart")
            elif not directory.is_dir() or repo.resolve() not in directory.parents:
                found.add(f"{where}: {name}", f"spec.source.path {path!r} does not exist in this repository")
            elif any((directory / n).is_file() for n in KUSTOMIZATIONS):
                add(directory, name)
            else:
                add(directory, f"{name} (plain directory)", "recurse" if dig(source, "directory", "recurse") else "directory")
    for directory, kustomization in sorted(kustomizations.items()):
        if directory.resolve() not in referenced and directory not in roots and kustomization.get("kind") != "Component":
            add(directory, "kustomization that nothing else includes")
    if not roots:
        found.add("deploy", "no kustomization root (expected deploy/k8s/overlays/*)")

    covered = set()
    for directory, root in roots.items():
        if root.mode != "kustomize":
            for path in yaml_files(directory, recurse=root.mode == "recurse"):
                covered.add(path)
                root.docs += manifests.get(path, [])
                root.origins.update({key(d): path.relative_to(repo).as_posix() for d in manifests.get(path, [])})
        elif (result := build(directory)).returncode:
            found.add(root.dir, f"kubectl kustomize failed: {result.stderr.strip()}")
        else:
            root.docs = [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)]
            root.origins = origin_index(repo, directory)
    loose = [(p.relative_to(repo).as_posix(), d) for p, docs in manifests.items()
             if p.resolve() not in referenced and p not in covered for d in docs]
    rendered = list(roots.values())
    for label, slug, why, docs in (("(files no root includes)", "loose-manifests", "not included anywhere", loose),
                                   ("(manifests in templates and scripts)", "embedded-manifests",
                                    "applied by a script or template", here_docs)):
        if docs:
            rendered.append(Root(label, slug, "files", [why], [d for _, d in docs], {key(d): w for w, d in docs}))
    found.summary = f"{len(rendered)} root(s): " + ", ".join(f"{r.slug} ({len(r.docs)})" for r in rendered)
    return rendered, found
