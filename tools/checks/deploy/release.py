"""Stage release: what CI releases is what the nodes can run, pinned, and what Terraform writes
locally stays out of git.

- image-platforms: the workflows' image build (docker/build-push-action, `platforms:` with the job's
  matrix expanded, else its runner's architecture) covers linux/amd64 and linux/arm64 (the node is a
  t4g by default; Terraform accepts x86 types too); a platform foreign to its runner needs
  docker/setup-qemu-action; every building job scans the image (aquasecurity/trivy-action).
- image-digest: every `images:` entry of the prod overlay pins `digest: sha256:<64 hex>`; the
  all-zero digest only with the all-zero tag, before CI's first run.
- ci-contract: scripts/set-overlay-image.py, CI's edit (its own cases: test_set_overlay_image.py),
  works on the overlay as committed: on a copy it points every entry at a sample image, which the
  rendering must then run where the committed one ran (an entry matching no container fails).
- argocd-revision: an Application that syncs Applications hands them its targetRevision (a kustomize
  patch of /spec/source/targetRevision), unless they already follow it.
- terraform-ignored: git ignores deploy/terraform's plans, state, .terraform/ and an activated
  backend.tf (a plan and the state hold the database password), and none is committed."""

import hashlib
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from checks.deploy.render import Root, build, dig
from checks.findings import Findings

PROD = "deploy/k8s/overlays/prod"
REQUIRED = ("linux/amd64", "linux/arm64")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PLACEHOLDER_DIGEST, PLACEHOLDER_TAG = "sha256:" + "0" * 64, "0" * 40
IGNORED = ("tfplan", "prod.tfplan", "backend.tf", "terraform.tfstate", "terraform.tfstate.backup", ".terraform/terraform.tfstate")
SAMPLE_TAG, SAMPLE_DIGEST = "c0ffee" * 6 + "c0ff", "sha256:" + hashlib.sha256(b"check-deploy sample image").hexdigest()


def combinations(strategy) -> list[dict] | None:
    """GitHub's expansion of strategy.matrix (lists, exclude, include); None for an expression."""
    matrix = (strategy or {}).get("matrix") if isinstance(strategy, dict) else None
    if not isinstance(matrix, dict):
        return [{}] if matrix is None else None
    base = {k: v if isinstance(v, list) else [v] for k, v in matrix.items() if k not in ("include", "exclude")}
    combos = [dict(zip(base, values, strict=True)) for values in itertools.product(*base.values())] if base else []
    combos = [c for c in combos if not any(all(c.get(k) == v for k, v in e.items()) for e in matrix.get("exclude") or [])]
    originals = len(combos)
    for include in matrix.get("include") or []:
        matching = [c for c in combos[:originals] if all(c.get(k) == v for k, v in include.items() if k in base)]
        for combo in matching:
            combo.update(include)
        combos += [] if matching else [dict(include)]
    return combos or [{}]


def substitute(value, combo: dict):
    """`${{ matrix.KEY }}` replaced; None when another expression remains."""
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda m: str(combo.get(m[1], m[0])), text)
    return None if "${{" in text else text


def uses(step: dict, action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def platforms(repo: Path, found: Findings) -> None:
    covered, builds = set(), 0
    for path in sorted((repo / ".github" / "workflows").glob("*.y*ml")):
        for job_id, job in ((yaml.safe_load(path.read_text()) or {}).get("jobs") or {}).items():
            steps = [s for s in job.get("steps") or [] if isinstance(s, dict)]
            combos, where = combinations(job.get("strategy")), f"{path.relative_to(repo)}: job {job_id}"
            qemu = any(uses(s, "docker/setup-qemu-action") for s in steps)
            scanned = any(uses(s, "aquasecurity/trivy-action") or "trivy " in str(s.get("run", "")) for s in steps)
            for step in (s for s in steps if uses(s, "docker/build-push-action")):
                if combos is None:
                    found.add(where, "image-platforms: strategy.matrix is an expression: its platforms cannot be known")
                    break
                for combo in combos:
                    builds += 1
                    raw, runner = dig(step, "with", "platforms"), substitute(job.get("runs-on"), combo)
                    arch = ("arm64" if re.search("arm|aarch64", runner.lower()) else "amd64") if runner else None
                    resolved = substitute(raw, combo) if raw is not None else f"linux/{arch}" if arch else None
                    if resolved is None:
                        found.add(f"{where} {combo}", "image-platforms: neither `platforms:` nor the runner name the architecture")
                        continue
                    built = {p.strip().replace("linux/arm64/v8", "linux/arm64") for p in re.split(r"[,\n]", resolved) if p.strip()}
                    for platform in sorted(built - {f"linux/{arch}"}) if arch and not qemu else ():
                        found.add(f"{where} {combo}", f"image-platforms: builds {platform} on runner {runner!r} ({arch}) "
                                                      "without docker/setup-qemu-action: use a runner of that architecture")
                    if not scanned:
                        found.add(f"{where} {combo}", f"image-platforms: the image ({', '.join(sorted(built))}) is built but "
                                                      "not scanned: no aquasecurity/trivy-action step in the job")
                    covered |= built
    if missing := [p for p in REQUIRED if p not in covered]:
        found.add(".github/workflows", f"image-platforms: the image build covers {', '.join(sorted(covered)) or 'nothing'}, "
                                       f"not {', '.join(missing)} ({builds} build(s) of docker/build-push-action)")


def images(node) -> list[str]:
    """Every `image:` string in the documents: what their containers run."""
    if isinstance(node, list):
        return [image for item in node for image in images(item)]
    if not isinstance(node, dict):
        return []
    return ([node["image"]] if isinstance(node.get("image"), str) else []) + images(list(node.values()))


def reference(entry: dict) -> str:
    tag = f":{entry['newTag']}" if entry.get("newTag") not in (None, "") else ""
    return f"{entry.get('newName') or entry.get('name')}{tag}@{entry.get('digest')}"


def digests(repo: Path, found: Findings) -> list[dict]:
    path = repo / PROD / "kustomization.yaml"
    entries = [e for e in ((yaml.safe_load(path.read_text()) or {}).get("images") or []) if isinstance(e, dict)] \
        if path.is_file() else []
    where = f"{PROD}/kustomization.yaml"
    if not entries:
        found.add(where, "image-digest: no `images:` entry: the image CI builds must be pinned there, by digest")
    for entry in entries:
        label, digest, tag = f"{where}: images entry {entry.get('name')}", str(entry.get("digest")), str(entry.get("newTag", ""))
        if "digest" not in entry:
            found.add(label, "image-digest: is not pinned by digest (no `digest:`; CI's deploy-manifest job writes it)")
        elif not DIGEST.match(digest):
            found.add(label, f"image-digest: digest {digest!r} is not sha256:<64 lowercase hex>")
        elif digest == PLACEHOLDER_DIGEST and tag != PLACEHOLDER_TAG:
            found.add(label, f"image-digest: the all-zero placeholder digest with tag {tag!r}: the placeholder is the "
                             "all-zero digest with the all-zero tag, before CI's first run")
    return entries


def contract(repo: Path, entries: list[dict], found: Findings) -> None:
    script = repo / "scripts" / "set-overlay-image.py"
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copytree(repo / "deploy" / "k8s", Path(scratch, "deploy", "k8s"), symlinks=True)
        overlay = Path(scratch, PROD)
        before = images(list(yaml.safe_load_all(build(overlay).stdout)))
        for entry in entries:
            name = entry.get("newName") if re.fullmatch(r"[a-z0-9]+([._/:-][a-z0-9]+)*", str(entry.get("newName"))) \
                else "ghcr.io/example/sample"
            edit = subprocess.run([sys.executable, str(script), str(overlay / "kustomization.yaml"), str(entry.get("name")),
                                   name, SAMPLE_TAG, SAMPLE_DIGEST], capture_output=True, text=True)
            if edit.returncode:
                found.add(str(script.relative_to(repo)), f"ci-contract: set-overlay-image.py cannot set images entry "
                                                         f"{entry.get('name')}: {(edit.stderr or edit.stdout).strip()}")
                continue
            got = images(list(yaml.safe_load_all(build(overlay).stdout))).count(f"{name}:{SAMPLE_TAG}@{SAMPLE_DIGEST}")
            if not got or got != before.count(reference(entry)):
                found.add(str(script.relative_to(repo)), f"ci-contract: after setting images entry {entry.get('name')}, "
                                                         f"{got} container(s) run the new image, where "
                                                         f"{before.count(reference(entry))} ran the committed one")


def revisions(roots: list[Root], found: Findings) -> None:
    def apps(docs):
        sources = [(d, (d.get("spec") or {}).get("source")) for d in docs if d.get("kind") == "Application"]
        return [(d, s) for d, s in sources if isinstance(s, dict) and isinstance(s.get("path"), str)]

    by_dir = {r.dir: r for r in roots}
    for root in roots:
        for app, source in apps(root.docs):
            children = apps(by_dir[source["path"].strip("/")].docs) if source["path"].strip("/") in by_dir else []
            revision = source.get("targetRevision", "HEAD")
            patched = any((p.get("target") or {}).get("kind") == "Application" and "/spec/source/targetRevision" in str(p.get("patch"))
                          and str(revision) in str(p.get("patch")) for p in (source.get("kustomize") or {}).get("patches") or [])
            differing = [f"{c['metadata'].get('name')} ({s.get('targetRevision', 'HEAD')!r})" for c, s in children
                         if s.get("targetRevision", "HEAD") != revision]
            if differing and not patched:
                found.add(root.label(app), f"argocd-revision: syncs {source['path']} at {revision!r}, but the Applications "
                                           f"there follow another revision: {', '.join(differing)}; pass it down "
                                           "(spec.source.kustomize.patches replacing /spec/source/targetRevision)")


def ignored(repo: Path, found: Findings) -> None:
    terraform = "deploy/terraform"

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)

    tracked = [f for f in git("ls-files", "--", terraform).stdout.splitlines()
               if re.search(r"(^|/)(tfplan[^/]*|[^/]*\.tfplan|backend\.tf|[^/]*\.tfstate[^/]*)$", f) or "/.terraform/" in f]
    for path in tracked:
        found.add(path, "terraform-ignored: is committed: it holds secrets or someone's own settings (git rm --cached)")
    if missing := [f"{terraform}/{n}" for n in IGNORED if git("check-ignore", "-q", "--", f"{terraform}/{n}").returncode]:
        found.add(f"{terraform}/.gitignore", f"terraform-ignored: git does not ignore {', '.join(missing)}")


def check(repo: Path, roots: list[Root]) -> Findings:
    found = Findings("release")
    platforms(repo, found)
    entries = digests(repo, found)
    contract(repo, entries, found)
    revisions(roots, found)
    if (repo / "deploy" / "terraform").is_dir():
        ignored(repo, found)
    return found
