"""Stage 8 of scripts/check-deploy.sh: what CI releases is what the nodes can run, pinned, and what
Terraform writes locally stays out of git.

    release.py REPO OUT SET_OVERLAY_IMAGE   (OUT/roots.json and OUT/rendered/ from render.py)

  image-platforms    the image build of the workflows (every step of .github/workflows/*.yml using
                     docker/build-push-action, its `platforms:` with the job's matrix expanded; without
                     `platforms:` the runner's own architecture) covers linux/amd64 and linux/arm64:
                     the node is a t4g (arm64) by default and Terraform accepts x86 instance types too.
                     A platform not of its runner's architecture needs docker/setup-qemu-action in the
                     job, and every job that builds the image scans it (aquasecurity/trivy-action).
  image-digest       every `images:` entry of the prod overlay (deploy/k8s/overlays/prod) pins
                     `digest: sha256:<64 hex>`, and the rendered overlay runs it by that digest (an
                     entry that matches no container changes nothing, silently). The all-zero digest is
                     the placeholder before CI's first run: accepted only together with the all-zero
                     tag, and reported as such.
  ci-contract        CI's deploy-manifest edit works on the overlay as committed: `SET_OVERLAY_IMAGE
                     --self-test` passes, and on a scratch copy of deploy/k8s the script points every
                     entry at a sample image, whose rendering then runs NAME:TAG@DIGEST wherever the
                     committed one ran the entry's image.
  argocd-revision    an Application that syncs other Applications (the app of apps) hands them its
                     spec.source.targetRevision (spec.source.kustomize.patches replacing
                     /spec/source/targetRevision with its own), unless each already names the same one:
                     otherwise the children follow `main` whatever revision the root was given.
  terraform-ignored  git ignores deploy/terraform's saved plans (tfplan, *.tfplan), state, .terraform/
                     and an activated backend.tf, and none of them is committed: a plan and the state
                     hold the generated database password and token signing key.
Exit status 1 on any finding.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from rendered import rendered_roots

PROD_OVERLAY = "deploy/k8s/overlays/prod"
REQUIRED_PLATFORMS = ("linux/amd64", "linux/arm64")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
PLACEHOLDER_TAG = "0" * 40
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TERRAFORM_DIR = "deploy/terraform"
# What `terraform plan -out`, `init` and `apply` leave in the module's directory, and the activated
# copy of backend.tf.example.
MUST_BE_IGNORED = ("tfplan", "prod.tfplan", "backend.tf", "terraform.tfstate", "terraform.tfstate.backup",
                   ".terraform/terraform.tfstate")
SAMPLE_TAG = "c0ffee" * 6 + "c0ff"
SAMPLE_DIGEST = "sha256:" + hashlib.sha256(b"check-deploy sample image").hexdigest()


class Findings:
    def __init__(self):
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.passed: list[str] = []

    def fail(self, rule: str, message: str):
        self.failures.append(f"{rule}: {message}")

    def note(self, rule: str, message: str):
        self.notes.append(f"{rule}: {message}")


# ------------------------------------------------------------------------------- image-platforms

def matrix_combinations(strategy) -> list[dict] | None:
    """GitHub's expansion of strategy.matrix (lists, exclude, include); None when it is an expression."""
    matrix = (strategy or {}).get("matrix") if isinstance(strategy, dict) else None
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        return None
    base = {k: (v if isinstance(v, list) else [v]) for k, v in matrix.items() if k not in ("include", "exclude")}
    combos = [dict(zip(base, values)) for values in itertools.product(*base.values())] if base else []
    for exclude in matrix.get("exclude") or []:
        if isinstance(exclude, dict):
            combos = [c for c in combos if not all(c.get(k) == v for k, v in exclude.items())]
    originals = len(combos)
    for include in matrix.get("include") or []:
        if not isinstance(include, dict):
            continue
        added = False
        for combo in combos[:originals]:
            if all(combo.get(k) == v for k, v in include.items() if k in base):
                combo.update(include)
                added = True
        if not added:
            combos.append(dict(include))
    return combos or [{}]


def substitute(value, combo: dict):
    """`${{ matrix.KEY }}` replaced by the combination's value; None if another expression remains."""
    if isinstance(value, list):
        parts = [substitute(v, combo) for v in value]
        return None if any(p is None for p in parts) else parts
    if not isinstance(value, str):
        return value

    def one(match):
        ref = re.fullmatch(r"matrix\.([A-Za-z0-9_-]+)", match.group(1))
        if ref and ref.group(1) in combo:
            return str(combo[ref.group(1)])
        raise KeyError(match.group(1))

    try:
        return EXPRESSION.sub(one, value)
    except KeyError:
        return None


def runner_arch(runs_on) -> str | None:
    labels = runs_on.get("labels") if isinstance(runs_on, dict) else runs_on
    labels = [labels] if isinstance(labels, str) else labels or []
    labels = [str(label).lower() for label in labels]
    if not labels:
        return None
    return "arm64" if any("arm" in label or "aarch64" in label for label in labels) else "amd64"


def normalize_platform(platform: str) -> str:
    platform = platform.strip()
    return "linux/arm64" if platform in ("linux/arm64/v8", "linux/aarch64") else platform


def uses(step, action: str) -> bool:
    return isinstance(step, dict) and str(step.get("uses", "")).split("@")[0] == action


def check_platforms(repo: Path, findings: Findings):
    rule = "image-platforms"
    workflows = sorted((repo / ".github" / "workflows").glob("*.y*ml")) if (repo / ".github").is_dir() else []
    covered: set[str] = set()
    builds = 0
    for path in workflows:
        rel = path.relative_to(repo).as_posix()
        try:
            workflow = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            findings.fail(rule, f"{rel}: not valid YAML: {error}")
            continue
        for job_id, job in ((workflow or {}).get("jobs") or {}).items():
            if not isinstance(job, dict):
                continue
            steps = [s for s in job.get("steps") or [] if isinstance(s, dict)]
            build_steps = [s for s in steps if uses(s, "docker/build-push-action")]
            if not build_steps:
                continue
            qemu = any(uses(s, "docker/setup-qemu-action") for s in steps)
            scanned = any(uses(s, "aquasecurity/trivy-action") or "trivy " in str(s.get("run", "")) for s in steps)
            combos = matrix_combinations(job.get("strategy"))
            if combos is None:
                findings.fail(rule, f"{rel}: job {job_id}: strategy.matrix is an expression: its platforms "
                                    "cannot be known here")
                continue
            for step in build_steps:
                where = f"{rel}: job {job_id}, step {step.get('id') or step.get('name') or 'docker/build-push-action'}"
                for combo in combos:
                    label = f"{where}{' ' + str(combo) if combo else ''}"
                    builds += 1
                    runs_on = substitute(job.get("runs-on"), combo)
                    arch = runner_arch(runs_on) if runs_on is not None else None
                    raw = ((step.get("with") or {}).get("platforms"))
                    if raw is None:
                        if arch is None:
                            findings.fail(rule, f"{label}: no `platforms:` and runs-on {job.get('runs-on')!r} "
                                                "names no known runner: the architecture cannot be known")
                            continue
                        platforms = {f"linux/{arch}"}
                        findings.note(rule, f"{label}: no `platforms:`, builds for its runner: linux/{arch}")
                    else:
                        resolved = substitute(str(raw), combo)
                        if resolved is None:
                            findings.fail(rule, f"{label}: platforms {raw!r} holds an expression other than "
                                                "${{ matrix.* }}: the platforms cannot be known here")
                            continue
                        platforms = {normalize_platform(p) for p in re.split(r"[,\n]", resolved) if p.strip()}
                    for platform in sorted(platforms):
                        foreign = arch is not None and platform.startswith("linux/") and platform != f"linux/{arch}"
                        if foreign and not qemu:
                            findings.fail(rule, f"{label}: builds {platform} on runner {runs_on!r} ({arch}) "
                                                "without docker/setup-qemu-action: use a runner of that "
                                                "architecture (ubuntu-24.04-arm for arm64)")
                    if not scanned:
                        findings.fail(rule, f"{label}: the image ({', '.join(sorted(platforms))}) is built but "
                                            "not scanned: no aquasecurity/trivy-action step in the job")
                    covered |= platforms
    if not builds:
        findings.fail(rule, "no workflow under .github/workflows builds the image (no docker/build-push-action step)")
        return
    missing = [p for p in REQUIRED_PLATFORMS if p not in covered]
    if missing:
        findings.fail(rule, f"the image build covers {', '.join(sorted(covered)) or 'nothing'}, not "
                            f"{', '.join(missing)}: the node is a t4g (arm64) by default and Terraform "
                            "accepts x86 instance types; build both (a matrix over ubuntu-24.04 and "
                            "ubuntu-24.04-arm, `platforms:` set from it)")
    else:
        findings.passed.append(f"{rule}: the image build covers {', '.join(sorted(covered))} ({builds} build(s))")


# ------------------------------------------------------------------------------- image-digest

def containers_images(doc) -> list[str]:
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                found += [c.get("image") for c in value if isinstance(c, dict) and isinstance(c.get("image"), str)]
            else:
                found += containers_images(value)
    elif isinstance(doc, list):
        for value in doc:
            found += containers_images(value)
    return found


def load_overlay(repo: Path, findings: Findings):
    directory = repo / PROD_OVERLAY
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (directory / name).is_file():
            path = directory / name
            break
    else:
        findings.fail("image-digest", f"{PROD_OVERLAY} has no kustomization: nothing pins the production image")
        return None, None
    try:
        kustomization = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        findings.fail("image-digest", f"{path.relative_to(repo)}: not valid YAML: {error}")
        return None, None
    entries = kustomization.get("images")
    if not isinstance(entries, list) or not entries:
        findings.fail("image-digest", f"{path.relative_to(repo)} has no `images:` entry: the image CI builds "
                                      "must be pinned there, by digest")
        return path, None
    return path, [e for e in entries if isinstance(e, dict)]


def reference(entry: dict) -> str:
    name = entry.get("newName") or entry.get("name")
    tag = f":{entry['newTag']}" if entry.get("newTag") not in (None, "") else ""
    return f"{name}{tag}@{entry.get('digest')}"


def rendered_prod(out: Path):
    for root, rendered, _ in rendered_roots(out):
        if root["dir"].rstrip("/") == PROD_OVERLAY:
            return [d for d in yaml.safe_load_all(rendered.read_text()) if isinstance(d, dict)]
    return None


def check_digest(repo: Path, out: Path, findings: Findings):
    rule = "image-digest"
    path, entries = load_overlay(repo, findings)
    if not entries:
        return
    rel = path.relative_to(repo).as_posix()
    docs = rendered_prod(out)
    images = containers_images(docs) if docs is not None else []
    if docs is None:
        findings.fail(rule, f"{PROD_OVERLAY} did not render (stage 1 says why): cannot tell what it runs")
    for entry in entries:
        name = entry.get("name", "?")
        digest = entry.get("digest")
        tag = str(entry.get("newTag", ""))
        label = f"{rel}: images entry {name}"
        if digest is None:
            findings.fail(rule, f"{label} is not pinned by digest (no `digest:`): CI's deploy-manifest job "
                                "writes `digest: sha256:...` with newTag (scripts/set-overlay-image.py)")
            continue
        if not DIGEST.match(str(digest)):
            findings.fail(rule, f"{label}: digest {digest!r} is not sha256:<64 lowercase hex>")
            continue
        if digest == PLACEHOLDER_DIGEST:
            if tag != PLACEHOLDER_TAG:
                findings.fail(rule, f"{label}: the all-zero placeholder digest with tag {tag!r}: the placeholder "
                                    "is the all-zero digest with the all-zero tag, before CI's first run; "
                                    "anything else pins an image that does not exist")
                continue
            findings.note(rule, f"{label}: the placeholder (all-zero tag and digest) until CI's first "
                                "deploy-manifest run; nothing can be pulled by it")
        if docs is None:
            continue
        wanted = reference(entry)
        running = sum(1 for image in images if image == wanted)
        if not running:
            findings.fail(rule, f"{label} matches no container of the rendered overlay (it would run {wanted}): "
                                "`name:` must be the image name the base's containers use")
        else:
            findings.passed.append(f"{rule}: {label}: {running} container(s) run {wanted}")


# ------------------------------------------------------------------------------- ci-contract

def check_contract(repo: Path, out: Path, script: Path, findings: Findings):
    rule = "ci-contract"
    if not script.is_file():
        findings.fail(rule, f"{script} does not exist: CI's deploy-manifest job runs it")
        return
    test = subprocess.run([sys.executable, str(script), "--self-test"], capture_output=True, text=True)
    if test.returncode != 0:
        findings.fail(rule, f"{script.name} --self-test failed:\n{test.stdout}{test.stderr}")
    path, entries = load_overlay(repo, Findings())
    if not entries or rendered_prod(out) is None:
        return  # image-digest reports it
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "deploy" / "k8s"
        shutil.copytree(repo / "deploy" / "k8s", copy, symlinks=True)
        overlay = Path(scratch) / path.relative_to(repo)
        before = containers_images(list(yaml.safe_load_all(
            subprocess.run(["kubectl", "kustomize", str(overlay.parent)], capture_output=True, text=True).stdout)))
        for entry in entries:
            name = entry.get("name")
            if not isinstance(name, str):
                findings.fail(rule, f"{path.relative_to(repo)}: an images entry without a name")
                continue
            new_name = entry.get("newName") if re.fullmatch(r"[a-z0-9]+([._/:-][a-z0-9]+)*",
                                                            str(entry.get("newName", ""))) else "ghcr.io/example/sample"
            edit = subprocess.run([sys.executable, str(script), str(overlay), name, new_name, SAMPLE_TAG, SAMPLE_DIGEST],
                                  capture_output=True, text=True)
            if edit.returncode != 0:
                findings.fail(rule, f"{script.name} cannot set images entry {name} of the overlay as committed "
                                    f"(exit {edit.returncode}): {(edit.stderr or edit.stdout).strip()}")
                continue
            build = subprocess.run(["kubectl", "kustomize", str(overlay.parent)], capture_output=True, text=True)
            if build.returncode != 0:
                findings.fail(rule, f"after {script.name} set images entry {name}, the overlay does not build: "
                                    f"{build.stderr.strip()}")
                continue
            after = containers_images(list(yaml.safe_load_all(build.stdout)))
            wanted = f"{new_name}:{SAMPLE_TAG}@{SAMPLE_DIGEST}"
            expected = sum(1 for image in before if image == reference(entry))
            got = sum(1 for image in after if image == wanted)
            if got == 0 or got != expected:
                findings.fail(rule, f"after {script.name} set images entry {name} to {wanted}, {got} container(s) "
                                    f"run it, where {expected} ran the committed image")
            else:
                findings.passed.append(f"{rule}: {script.name} points images entry {name} at a new "
                                       f"NAME:TAG@DIGEST, and the overlay renders it ({got} container(s))")


# ------------------------------------------------------------------------------- argocd-revision

def applications(docs):
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Application" and \
                str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
            source = (doc.get("spec") or {}).get("source")
            if isinstance(source, dict) and isinstance(source.get("path"), str):
                yield doc, source


def passes_revision(source: dict, revision) -> bool:
    """spec.source.kustomize.patches sets every Application's /spec/source/targetRevision to REVISION."""
    for patch in ((source.get("kustomize") or {}).get("patches") or []):
        if not isinstance(patch, dict) or (patch.get("target") or {}).get("kind") != "Application" or \
                (patch.get("target") or {}).get("name"):
            continue
        try:
            body = yaml.safe_load(patch.get("patch") or "")
        except yaml.YAMLError:
            continue
        if isinstance(body, list):
            for op in body:
                if isinstance(op, dict) and op.get("op") in ("replace", "add") and \
                        op.get("path") == "/spec/source/targetRevision" and op.get("value") == revision:
                    return True
        elif isinstance(body, dict):
            if (((body.get("spec") or {}).get("source") or {}).get("targetRevision")) == revision:
                return True
    return False


def check_revisions(out: Path, findings: Findings):
    rule = "argocd-revision"
    roots = {}
    for root, rendered, origins in rendered_roots(out):
        roots[root["dir"].rstrip("/")] = ([d for d in yaml.safe_load_all(rendered.read_text()) if isinstance(d, dict)],
                                          origins)
    parents = 0
    for docs, origins in list(roots.values()):
        for app, source in applications(docs):
            path = source["path"].strip("/")
            if path not in roots:
                continue
            children = list(applications(roots[path][0]))
            if not children:
                continue
            parents += 1
            name = (app.get("metadata") or {}).get("name")
            where = origins.get(f"Application/{(app.get('metadata') or {}).get('namespace', '')}/{name}", "")
            revision = source.get("targetRevision", "HEAD")
            if passes_revision(source, revision):
                findings.passed.append(f"{rule}: Application {name} ({where}) hands its targetRevision to the "
                                       f"{len(children)} Application(s) of {path}")
                continue
            differing = [f"{(c.get('metadata') or {}).get('name')} ({s.get('targetRevision', 'HEAD')!r})"
                         for c, s in children if s.get("targetRevision", "HEAD") != revision]
            if differing:
                findings.fail(rule, f"Application {name} ({where}) syncs {path} at targetRevision {revision!r}, "
                                    f"but the Applications there follow another revision: {', '.join(differing)}. "
                                    "Pass the revision down: spec.source.kustomize.patches with target kind "
                                    "Application, op replace /spec/source/targetRevision, value its own")
            else:
                findings.passed.append(f"{rule}: Application {name} and the Applications of {path} all "
                                       f"follow {revision!r}")
    if not parents:
        findings.note(rule, "no Application syncs other Applications here")


# ------------------------------------------------------------------------------- terraform-ignored

def git(repo: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def check_ignored(repo: Path, findings: Findings):
    rule = "terraform-ignored"
    if not (repo / TERRAFORM_DIR).is_dir():
        findings.note(rule, f"no {TERRAFORM_DIR}: nothing to check")
        return
    if git(repo, "rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        findings.fail(rule, f"{repo} is not a git work tree: cannot tell what git ignores")
        return
    tracked = [line for line in git(repo, "ls-files", "--", TERRAFORM_DIR).stdout.splitlines()
               if re.search(r"(^|/)(tfplan[^/]*|[^/]*\.tfplan[^/]*|backend\.tf|[^/]*\.tfstate[^/]*)$", line)
               or "/.terraform/" in line]
    for line in tracked:
        findings.fail(rule, f"{line} is committed: it holds secrets or your own settings. "
                            f"`git rm --cached {line}`, and rotate what it held if it was pushed")
    missing = []
    for name in MUST_BE_IGNORED:
        path = f"{TERRAFORM_DIR}/{name}"
        if path in tracked:
            continue
        if git(repo, "check-ignore", "-q", "--", path).returncode != 0:
            missing.append(path)
    if missing:
        findings.fail(rule, f"git does not ignore {', '.join(missing)}: add rules to {TERRAFORM_DIR}/.gitignore "
                            "(a saved plan and the state hold the generated database password and signing key)")
    elif not tracked:
        findings.passed.append(f"{rule}: git ignores {', '.join(MUST_BE_IGNORED)} in {TERRAFORM_DIR}")


def main(argv: list[str]) -> int:
    repo, out, script = Path(argv[1]).resolve(), Path(argv[2]).resolve(), Path(argv[3]).resolve()
    findings = Findings()
    check_platforms(repo, findings)
    check_digest(repo, out, findings)
    check_contract(repo, out, script, findings)
    check_revisions(out, findings)
    check_ignored(repo, findings)
    for line in findings.passed:
        print(f"ok   {line}")
    for line in findings.notes:
        print(f"note {line}")
    for line in findings.failures:
        print(f"FAIL {line}")
    print(f"release: {len(findings.passed)} check(s) passed, {len(findings.failures)} problem(s), "
          f"{len(findings.notes)} note(s)")
    return 1 if findings.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
