"""Stage render: every manifest under deploy/ as Kubernetes or ArgoCD would apply it.

Roots, each built with `kubectl kustomize` (offline, no Helm): every overlay (deploy/k8s/overlays/*);
every path an ArgoCD Application or ApplicationSet syncs (without a kustomization, read the way ArgoCD
reads it: a directory of plain manifests); every other kustomization nothing includes (a root nobody
renders would escape validation). Manifest files no root covers, and the manifests of Terraform's
YAML templates (the root Application the k3s user data applies) or of here-documents in scripts under
deploy/, become roots of their own, so nothing under deploy/ escapes the later stages. Every resource remembers the repository
file it came from, so a finding can name it."""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from checks.findings import Findings
from checks.hcl import render_template

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
SKIP_DIRS = {"terraform", ".terraform", "node_modules"}
HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_]\w*)\2[^\n]*\n(.*?)\n[ \t]*\3[ \t]*(?:\n|$)", re.S)
VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]\w*")
SCRIPTS = (".sh", ".bash", ".sh.tftpl", ".sh.tpl")
YAML_TEMPLATES = (".yaml.tftpl", ".yml.tftpl")


def key(doc: dict) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def group(doc: dict) -> str:
    api = str(doc.get("apiVersion", ""))
    return api.split("/")[0] if "/" in api else ""


@dataclass
class Root:
    """One rendered root: its documents and, per "kind/namespace/name", the file it came from."""

    dir: str
    slug: str
    mode: str  # kustomize, directory (ArgoCD's plain directory) or files (applied one by one)
    why: list[str] = field(default_factory=list)
    docs: list[dict] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)

    def label(self, doc: dict) -> str:
        """`slug: Kind namespace/name (file)`: how a finding names a resource."""
        meta = doc.get("metadata") or {}
        name = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
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
        for name in sorted(n for n in filenames if n.endswith(YAML_TEMPLATES)):
            path = Path(dirpath) / name
            text, _, _ = render_template(path.read_text(encoding="utf-8"))
            docs = [d for d in yaml.safe_load_all(text) if is_manifest(d)]
            yield from ((f"{path.relative_to(repo)} (template)", d) for d in docs)
        for name in sorted(n for n in filenames if n.endswith(SCRIPTS)):
            path = Path(dirpath) / name
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in HEREDOC.finditer(text):
                body = match.group(4)
                if match.group(1):
                    body = "\n".join(line.lstrip("\t") for line in body.splitlines())
                if name.endswith((".tftpl", ".tpl")):
                    body = body.replace("$${", "${").replace("%%{", "%{")
                if not match.group(2):
                    body = VARIABLE.sub("placeholder-of-a-variable", body)
                try:
                    docs = [d for d in yaml.safe_load_all(body) if is_manifest(d)]
                except yaml.YAMLError:
                    continue  # a here-document that is not YAML (a script, a config file)
                line = text.count("\n", 0, match.start()) + 1
                yield from ((f"{path.relative_to(repo)}:{line} (here-document)", d) for d in docs)


def build(directory: Path, origins_for: Path | None = None) -> subprocess.CompletedProcess:
    """`kubectl kustomize DIRECTORY`; with origins_for, through a wrapper kustomization that asks for
    origin annotations (the validated output is the plain build: the wrapper needs looser loading)."""
    if origins_for is None:
        return subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
    (origins_for / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": [os.path.relpath(directory, origins_for)], "buildMetadata": ["originAnnotations"]}))
    return subprocess.run(["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(origins_for)],
                          capture_output=True, text=True)


def origin_index(repo: Path, directory: Path) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as wrapper:
        result = build(directory, Path(wrapper))
        index = {}
        for doc in yaml.safe_load_all(result.stdout) if result.returncode == 0 else ():
            origin = yaml.safe_load(((doc.get("metadata") or {}).get("annotations") or {}).get(ORIGIN) or "{}")
            where = origin.get("path") or origin.get("configuredIn")
            if where:
                generated = f" ({(origin.get('configuredBy') or {}).get('kind', 'generator')})" if "path" not in origin else ""
                index[key(doc)] = os.path.relpath(os.path.normpath(Path(wrapper) / where), repo) + generated
    return index


def render(repo: Path) -> tuple[list[Root], Findings]:
    found = Findings("render")
    deploy, roots = repo / "deploy", {}
    kustomizations, referenced, manifests, applications = {}, set(), {}, []
    for path in yaml_files(deploy) if deploy.is_dir() else ():
        rel = path.relative_to(repo).as_posix()
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except yaml.YAMLError as error:
            found.add(rel, f"not valid YAML: {error}")
            continue
        if path.name in KUSTOMIZATIONS:
            kustomizations[path.parent] = docs[0] if docs and isinstance(docs[0], dict) else {}
            for value in strings(kustomizations[path.parent]):
                if "\n" not in value and len(value) < 300 and "://" not in value:
                    referenced.add((path.parent / value.split("?")[0]).resolve())
            continue
        if kept := [d for d in docs if is_manifest(d)]:
            manifests[path] = kept
            applications += [(rel, d) for d in kept if is_application(d)]
    here_docs = list(embedded(repo))
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
        spec = app.get("spec") or {}
        spec = ((spec.get("template") or {}).get("spec") or {}) if app["kind"] == "ApplicationSet" else spec
        label = f"{where}: {app['kind']} {(app.get('metadata') or {}).get('name')}"
        for source in [spec.get("source")] + list(spec.get("sources") or []):
            if not isinstance(source, dict) or source.get("chart") or source.get("ref"):
                continue  # a Helm chart cannot be rendered offline; a `ref:` source only lends values files
            path = source.get("path")
            if isinstance(path, str) and "{{" in path:
                continue  # an ApplicationSet's templated path: known only in the cluster
            if not isinstance(path, str) or not path:
                found.add(label, "a source with neither path nor chart")
                continue
            directory = (repo / path).resolve()
            if not directory.is_dir() or repo.resolve() not in directory.parents:
                found.add(label, f"spec.source.path {path!r} does not exist in this repository")
            elif any((directory / n).is_file() for n in KUSTOMIZATIONS):
                add(directory, f"{app['kind']} {(app.get('metadata') or {}).get('name')}")
            else:
                mode = "recurse" if (source.get("directory") or {}).get("recurse") else "directory"
                add(directory, f"{app['kind']} {(app.get('metadata') or {}).get('name')} (plain directory)", mode)
    for directory, kustomization in sorted(kustomizations.items()):
        if directory.resolve() not in referenced and directory not in roots and kustomization.get("kind") != "Component":
            add(directory, "kustomization that nothing else includes")
    if not roots:
        found.add("deploy", "no kustomization root (expected deploy/k8s/overlays/*)")

    covered = set()
    for directory, root in roots.items():
        if root.mode == "kustomize":
            result = build(directory)
            if result.returncode:
                found.add(root.dir, f"kubectl kustomize failed: {result.stderr.strip()}")
                continue
            root.docs = [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)]
            root.origins = origin_index(repo, directory)
            continue
        for path in yaml_files(directory, recurse=root.mode == "recurse"):
            covered.add(path)
            root.docs += manifests.get(path, [])
            root.origins.update({key(d): path.relative_to(repo).as_posix() for d in manifests.get(path, [])})
    loose = [p for p in manifests if p.resolve() not in referenced and p not in covered]
    rendered = list(roots.values())
    if loose:
        rendered.append(Root("(files no root includes)", "loose-manifests", "files", ["not included anywhere"],
                             [d for p in loose for d in manifests[p]],
                             {key(d): p.relative_to(repo).as_posix() for p in loose for d in manifests[p]}))
    if here_docs:
        rendered.append(Root("(manifests in templates and scripts)", "embedded-manifests", "files",
                             ["applied by a script or template"], [d for _, d in here_docs],
                             {key(d): where for where, d in here_docs}))
    found.summary = f"{len(rendered)} root(s): " + ", ".join(f"{r.slug} ({len(r.docs)})" for r in rendered)
    return rendered, found
