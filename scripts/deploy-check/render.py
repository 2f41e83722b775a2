"""Stage 1 of scripts/check-deploy.sh: finds every kustomization root under deploy/ and renders it.

    render.py REPO OUT

Roots, each rendered with `kubectl kustomize` (offline, no Helm) into OUT/rendered/<slug>.yaml:
  * every overlay, deploy/k8s/overlays/*;
  * every path in this repository that an ArgoCD Application (or ApplicationSet template) under
    deploy/ syncs (spec.source.path, spec.sources[].path); a path with no kustomization file is
    rendered the way ArgoCD reads it, as a directory of plain manifests;
  * every other kustomization under deploy/ that no other kustomization includes (a root nobody
    renders would escape validation otherwise); Components are left to their users.
Kubernetes manifests under deploy/ that no kustomization refers to and no root covers are collected
into OUT/rendered/loose-manifests.yaml, so they are validated too (and listed). So are manifests
embedded as here-documents in the shell scripts and templates under deploy/ (the k3s node's user data
applies the root Application and drops a HelmChart): OUT/rendered/embedded-manifests.yaml, with each
shell or Terraform-template variable replaced by a placeholder string; an Application among them
makes its path a root like any other.

Each rendered file gets OUT/rendered/<slug>.origins.json: "kind/namespace/name" -> the repository
file the resource came from, from a second build of a copy of the repository whose root
kustomization asks for `buildMetadata: [originAnnotations]` (the validated output is the plain
build of the real tree). OUT/roots.json lists the roots. Exit status 1 when a root does not build,
an Application points at a path that does not exist, or no root was found.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
SKIP_DIRS = {"terraform", ".terraform", "node_modules"}


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def yaml_files(top: Path):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")) or name == "Kustomization":
                yield Path(dirpath) / name


def load_all(path: Path):
    try:
        with path.open(encoding="utf-8") as handle:
            return [doc for doc in yaml.safe_load_all(handle) if doc is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        return error


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def slug_of(repo: Path, directory: Path) -> str:
    rel = directory.relative_to(repo).as_posix()
    rel = rel[len("deploy/"):] if rel.startswith("deploy/") else rel
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", rel).strip("-") or "root"


def is_manifest(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)


HEREDOC = re.compile(r"<<(-?)[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2[^\n]*\n(.*?)\n[ \t]*\3[ \t]*(?:\n|$)", re.S)
VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
SCRIPT_SUFFIXES = (".sh", ".tftpl", ".tpl", ".bash")


def embedded_manifests(repo: Path, deploy: Path):
    """(file:line, doc) for every manifest in a here-document of a script or template under deploy/."""
    for dirpath, dirnames, filenames in os.walk(deploy):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "node_modules")
        for name in sorted(filenames):
            if not name.endswith(SCRIPT_SUFFIXES):
                continue
            path = Path(dirpath) / name
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for match in HEREDOC.finditer(text):
                body = match.group(4)
                if match.group(1):
                    body = "\n".join(line.lstrip("\t") for line in body.splitlines())
                if name.endswith((".tftpl", ".tpl")):
                    body = body.replace("$${", "${").replace("%%{", "%{")
                if match.group(2) == "":  # an unquoted delimiter: the shell expands variables
                    body = VARIABLE.sub("placeholder-of-a-variable", body)
                try:
                    docs = [d for d in yaml.safe_load_all(body) if is_manifest(d)]
                except yaml.YAMLError:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                for doc in docs:
                    yield f"{path.relative_to(repo).as_posix()}:{line} (here-document)", doc


def main() -> int:
    repo, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    deploy = repo / "deploy"
    rendered = out / "rendered"
    shutil.rmtree(rendered, ignore_errors=True)
    rendered.mkdir(parents=True)
    problems: list[str] = []

    # Every kustomization under deploy/, what it refers to, and every manifest file.
    kustomizations: dict[Path, dict] = {}
    referenced_dirs: set[Path] = set()
    referenced_files: set[Path] = set()
    manifests: dict[Path, list] = {}
    applications: list[tuple[Path, dict]] = []
    for path in yaml_files(deploy) if deploy.is_dir() else []:
        docs = load_all(path)
        if isinstance(docs, Exception):
            problems.append(f"{path.relative_to(repo)}: not valid YAML: {docs}")
            continue
        if path.name in KUSTOMIZATION_FILES:
            kustomizations[path.parent] = docs[0] if docs and isinstance(docs[0], dict) else {}
            for value in strings(kustomizations[path.parent]):
                if "\n" in value or len(value) > 300 or value.startswith(("http://", "https://", "git@")):
                    continue
                target = (path.parent / value.split("?")[0]).resolve()
                if target.is_dir():
                    referenced_dirs.add(target)
                elif target.is_file():
                    referenced_files.add(target)
            continue
        kept = [doc for doc in docs if is_manifest(doc)]
        if kept:
            manifests[path] = kept
        for doc in kept:
            if doc["kind"] in ("Application", "ApplicationSet") and doc["apiVersion"].startswith("argoproj.io/"):
                applications.append((path, doc))

    embedded = list(embedded_manifests(repo, deploy)) if deploy.is_dir() else []
    for where, doc in embedded:
        if doc["kind"] in ("Application", "ApplicationSet") and doc["apiVersion"].startswith("argoproj.io/"):
            applications.append((Path(where.split(":")[0]), doc))

    roots: dict[Path, dict] = {}

    def add_root(directory: Path, why: str, mode: str = "kustomize", recurse: bool = False):
        entry = roots.setdefault(directory, {"dir": directory.relative_to(repo).as_posix(),
                                             "slug": slug_of(repo, directory), "mode": mode,
                                             "recurse": recurse, "why": []})
        entry["why"].append(why)

    overlays = deploy / "k8s" / "overlays"
    for directory in sorted(overlays.iterdir()) if overlays.is_dir() else []:
        if directory.is_dir():
            if kustomization_file(directory):
                add_root(directory, "overlay")
            else:
                problems.append(f"{directory.relative_to(repo)}: an overlay directory without a kustomization file")

    for path, app in applications:
        spec = app.get("spec") or {}
        if app["kind"] == "ApplicationSet":
            spec = ((spec.get("template") or {}).get("spec")) or {}
        name = (app.get("metadata") or {}).get("name", "?")
        sources = ([spec["source"]] if isinstance(spec.get("source"), dict) else []) + \
            [s for s in spec.get("sources") or [] if isinstance(s, dict)]
        for source in sources:
            where = f"{path.relative_to(repo) if path.is_absolute() else path}: {app['kind']} {name}"
            if source.get("chart"):
                print(f"note: {where} installs Helm chart {source.get('chart')} "
                      f"{source.get('targetRevision', '(no targetRevision)')} from {source.get('repoURL')}: "
                      "not rendered here (no network)")
                continue
            source_path = source.get("path")
            if not isinstance(source_path, str) or not source_path:
                if source.get("ref"):
                    continue  # a `ref:` source only provides values files to another source
                problems.append(f"{where}: a source with neither path nor chart")
                continue
            if "{{" in source_path:
                print(f"note: {where} has a templated path {source_path!r}: not rendered")
                continue
            directory = (repo / source_path).resolve()
            if not directory.is_dir() or repo not in directory.parents:
                problems.append(f"{where}: spec.source.path {source_path!r} does not exist in this repository")
                continue
            why = f"{app['kind']} {name}"
            if kustomization_file(directory):
                add_root(directory, why)
            else:
                recurse = bool(((source.get("directory") or {}).get("recurse")))
                add_root(directory, why + " (plain directory)", mode="directory", recurse=recurse)

    for directory, kustomization in sorted(kustomizations.items()):
        if directory in referenced_dirs or directory in roots:
            continue
        if kustomization.get("kind") == "Component":
            continue
        add_root(directory, "kustomization that nothing else includes")

    if not roots:
        problems.append("no kustomization root under deploy/ (expected deploy/k8s/overlays/*)")

    # Manifest files that no root covers.
    covered_dirs = [Path(r) for r, e in roots.items() if e["mode"] == "directory"]
    loose = []
    for path in manifests:
        if path.resolve() in referenced_files:
            continue
        parent = path.parent.resolve()
        if any(parent == d or (roots[d]["recurse"] and d in parent.parents) for d in covered_dirs):
            continue
        loose.append(path)

    # A copy of the repository (its deploy/ and whatever deploy/ refers to are small; target/ and
    # .git are left out) whose roots ask kustomize where each resource came from.
    copy = out / "origin-copy"
    shutil.rmtree(copy, ignore_errors=True)
    def ignore(directory, names):
        here = Path(directory).resolve()
        return [n for n in names if (here == repo and n in (".git", "target", ".dev")) or n == "node_modules"
                or here / n == out]

    shutil.copytree(repo, copy, symlinks=True, ignore=ignore)

    for directory, entry in sorted(roots.items(), key=lambda item: item[1]["dir"]):
        target = rendered / f"{entry['slug']}.yaml"
        print(f"render {entry['dir']}  ({'; '.join(entry['why'])})")
        if entry["mode"] == "directory":
            files = sorted(yaml_files(directory)) if entry["recurse"] else \
                sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
            docs, origins = [], {}
            for path in files:
                for doc in manifests.get(path, []):
                    docs.append(doc)
                    origins[key_of(doc)] = path.relative_to(repo).as_posix()
            target.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            (rendered / f"{entry['slug']}.origins.json").write_text(json.dumps(origins, indent=1))
            continue
        build = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
        if build.returncode != 0:
            problems.append(f"{entry['dir']}: kubectl kustomize failed: {build.stderr.strip()}")
            continue
        target.write_text(build.stdout)
        origins = origin_index(repo, copy, directory)
        (rendered / f"{entry['slug']}.origins.json").write_text(json.dumps(origins, indent=1))
        print(f"  {sum(1 for d in yaml.safe_load_all(build.stdout) if d)} resources")

    if loose:
        docs, origins = [], {}
        for path in loose:
            for doc in manifests[path]:
                docs.append(doc)
                origins[key_of(doc)] = path.relative_to(repo).as_posix()
        print("manifest files that no kustomization root includes (validated as they are): " +
              ", ".join(p.relative_to(repo).as_posix() for p in loose))
        (rendered / "loose-manifests.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        (rendered / "loose-manifests.origins.json").write_text(json.dumps(origins, indent=1))
        roots[deploy / ".loose"] = {"dir": "(files no root includes)", "slug": "loose-manifests",
                                    "mode": "files", "why": ["not included by any kustomization"]}

    if embedded:
        print("manifests embedded in scripts and templates (validated with placeholders for variables): " +
              ", ".join(sorted({where.split(" ")[0] for where, _ in embedded})))
        (rendered / "embedded-manifests.yaml").write_text(yaml.safe_dump_all([d for _, d in embedded], sort_keys=False))
        (rendered / "embedded-manifests.origins.json").write_text(
            json.dumps({key_of(d): where for where, d in embedded}, indent=1))
        roots[deploy / ".embedded"] = {"dir": "(here-documents in scripts and templates)",
                                       "slug": "embedded-manifests", "mode": "files",
                                       "why": ["applied by a script or template"]}

    (out / "roots.json").write_text(json.dumps(
        [{k: v for k, v in e.items() if k != "recurse"} for e in roots.values()], indent=1))
    shutil.rmtree(copy, ignore_errors=True)
    for problem in problems:
        print(f"FAIL {problem}")
    built = len(list(rendered.glob("*.yaml")))
    print(f"render: {built} root(s) rendered, {len(problems)} problem(s)")
    return 1 if problems else 0


def key_of(doc) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def origin_index(repo: Path, copy: Path, directory: Path) -> dict:
    """kind/namespace/name -> repository file, from a build of the copy with origin annotations."""
    copied = copy / directory.relative_to(repo)
    file = kustomization_file(copied)
    try:
        kustomization = yaml.safe_load(file.read_text()) or {}
        metadata = kustomization.get("buildMetadata") or []
        if "originAnnotations" not in metadata:
            kustomization["buildMetadata"] = list(metadata) + ["originAnnotations"]
            file.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    except (yaml.YAMLError, AttributeError, OSError):
        return {}
    build = subprocess.run(["kubectl", "kustomize", str(copied)], capture_output=True, text=True)
    if build.returncode != 0:
        return {}
    index = {}
    for doc in yaml.safe_load_all(build.stdout):
        if not isinstance(doc, dict):
            continue
        origin = ((doc.get("metadata") or {}).get("annotations") or {}).get(ORIGIN)
        try:
            origin = yaml.safe_load(origin) if origin else {}
        except yaml.YAMLError:
            origin = {}
        if origin.get("path"):
            where = os.path.normpath(copied / origin["path"])
        elif origin.get("configuredIn"):
            generator = (origin.get("configuredBy") or {}).get("kind", "generator")
            where = os.path.normpath(copied / origin["configuredIn"]) + f" ({generator})"
        else:
            continue
        where = os.path.relpath(where, copy)
        index[key_of(doc)] = where
    return index


if __name__ == "__main__":
    sys.exit(main())
