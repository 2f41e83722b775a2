"""Stage 6 of scripts/check-deploy.sh, before checkov: its input, and the repository-wide skips.

    checkov_prepare.py OUT CHECKOV_CONFIG

Copies every rendered root to OUT/checkov/k8s/<slug>.yaml and adds, for every Argo Rollouts Rollout,
a Deployment with the Rollout's metadata and pod template to OUT/checkov/k8s/<slug>.rollouts.yaml:
checkov knows no Rollout, and without this the service's own pod would escape its Kubernetes checks.
Likewise every Job an AnalysisTemplate runs (provider.job, e.g. the canary's smoke test), as a Job
named <template>.<metric> carrying the template's annotations (its checkov.io/skipN), in the same file.
Then reads CHECKOV_CONFIG (.checkov.yaml): every `skip-check` entry needs its justification as a
comment on the same line or on the comment lines right above it. Prints the list; exit status 1
when an entry has none, or when the file sets anything but skip-check (the file is also read by
checkov runs of other frameworks, e.g. the Terraform check, which must not be changed by it).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml

from rendered import analysis_jobs


def main() -> int:
    out, config = Path(sys.argv[1]), Path(sys.argv[2])
    target = out / "checkov" / "k8s"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    rollouts = 0
    for rendered in sorted((out / "rendered").glob("*.yaml")):
        text = rendered.read_text()
        (target / rendered.name).write_text(text)
        extra = []
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc.get("kind") == "Rollout" and \
                    str(doc.get("apiVersion", "")).startswith("argoproj.io/"):
                spec = doc.get("spec") or {}
                if not spec.get("template"):
                    continue
                meta = dict(doc.get("metadata") or {})
                extra.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                              "spec": {"replicas": spec.get("replicas", 1), "selector": spec.get("selector"),
                                       "template": spec["template"]}})
            for name, job in analysis_jobs(doc) if isinstance(doc, dict) else ():
                meta = dict(doc.get("metadata") or {})
                meta["name"] = f"{meta.get('name')}.{name}"
                meta["annotations"] = {**(meta.get("annotations") or {}),
                                       **((job.get("metadata") or {}).get("annotations") or {})}
                meta["labels"] = {**(meta.get("labels") or {}), **((job.get("metadata") or {}).get("labels") or {})}
                extra.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job.get("spec") or {}})
        if extra:
            rollouts += len(extra)
            (target / f"{rendered.stem}.rollouts.yaml").write_text(yaml.safe_dump_all(extra, sort_keys=False))
    print(f"checkov input: {len(list(target.glob('*.yaml')))} file(s), {rollouts} Rollout(s) and analysis "
          "Job(s) checked as Deployments and Jobs")

    if not config.is_file():
        print(f"no {config.name}: no repository-wide skips")
        return 0
    problems = []
    try:
        data = yaml.safe_load(config.read_text()) or {}
    except yaml.YAMLError as error:
        print(f"FAIL {config.name}: not valid YAML: {error}")
        return 1
    for key in data:
        if key != "skip-check":
            problems.append(f"{config.name}: sets {key!r}: only skip-check belongs in it (the Terraform "
                            "check and other checkov runs read the same file)")
    lines = config.read_text().splitlines()
    entries = []
    in_list = False
    for i, line in enumerate(lines):
        if re.match(r"^skip-check:\s*(#.*)?$", line):
            in_list = True
            continue
        if in_list and re.match(r"^\S", line) and not line.startswith("#"):
            in_list = False
        match = re.match(r"^\s*-\s*([A-Z0-9_]+)\s*(?:#\s*(.*))?$", line) if in_list else None
        if not match:
            continue
        reason = (match.group(2) or "").strip()
        j = i - 1
        above = []
        while not reason and j >= 0 and lines[j].strip().startswith("#"):
            above.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        reason = reason or " ".join(above)
        entries.append((match.group(1), reason))
    listed = data.get("skip-check") or []
    if isinstance(listed, str):
        listed = [s.strip() for s in listed.split(",")]
    if sorted(listed) != sorted(e[0] for e in entries):
        problems.append(f"{config.name}: write skip-check as a block list, one check a line, each with its reason")
    for check, reason in entries:
        if len(reason) < 15:
            problems.append(f"{config.name}: skip of {check} has no justification (a comment on its line or above it)")
        print(f"skipped everywhere ({config.name}): {check}: {reason or '(no reason)'}")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
