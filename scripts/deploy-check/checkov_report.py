"""Stage 6 of scripts/check-deploy.sh, after checkov: its JSON reports, readable.

    checkov_report.py OUT REPORT.json...

Prints every failed check with the root, the resource and the repository file it came from, and every
check skipped by an inline annotation (`checkov.io/skip1: CKV_K8S_xx=reason`) with its reason. Exit
status 1 on a failed check, a parsing error, or an inline skip without a reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def origin_of(out: Path, file_path: str, resource: str) -> str:
    """`<slug>: Kind ns/name (file)` for a resource id `Kind.ns.name` in a rendered file (checkov's graph
    checks add `.label-value` parts to the name, and name a workload's pods `Pod.ns.name...`)."""
    name = Path(file_path).name
    slug = name[: -len(".rollouts.yaml")] if name.endswith(".rollouts.yaml") else Path(name).stem
    if not (out / "rendered" / f"{slug}.yaml").is_file():
        return f"{file_path.lstrip('/')}"
    kind, _, rest = resource.partition(".")
    namespace, _, obj = rest.partition(".")
    if not obj:
        namespace, obj = "", rest
    if name.endswith(".rollouts.yaml"):  # stand-ins: a Rollout's Deployment, an AnalysisTemplate's Job
        kind = {"Deployment": "Rollout", "Job": "AnalysisTemplate"}.get(kind, kind)
    origins_file = out / "rendered" / f"{slug}.origins.json"
    origins = json.loads(origins_file.read_text()) if origins_file.is_file() else {}
    parts = obj.split(".")
    for cut in range(len(parts), 0, -1):
        candidate = ".".join(parts[:cut])
        hits = [k for k in origins if k == f"{kind}/{namespace}/{candidate}"] or \
            [k for k in origins if k.split("/", 2)[1:] == [namespace, candidate] and kind == "Pod"]
        if hits:
            found_kind = hits[0].split("/")[0]
            shown = f"{found_kind} {namespace + '/' if namespace else ''}{candidate}"
            if name.endswith(".rollouts.yaml") and found_kind == "AnalysisTemplate":
                shown += f" (its Job {'.'.join(parts[cut:]) or '?'}, checked as a Job)"
            elif name.endswith(".rollouts.yaml"):
                shown += " (its pod template, checked as a Deployment)"
            elif found_kind != kind:
                shown += f" (its {kind})"
            return f"{slug}: {shown} ({origins[hits[0]]})"
    return f"{slug}: {kind} {namespace + '/' if namespace else ''}{obj}"


def main() -> int:
    out = Path(sys.argv[1])
    failures, skips, problems = [], [], []
    passed = 0
    for report in sys.argv[2:]:
        text = Path(report).read_text().strip()
        if not text:
            problems.append(f"{report}: checkov wrote nothing")
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            problems.append(f"{report}: not JSON: {text[:300]}")
            continue
        for result in data if isinstance(data, list) else [data]:
            results = result.get("results") or {}
            summary = result.get("summary") or {}
            if summary.get("parsing_errors"):
                problems.append(f"checkov {result.get('check_type')}: could not parse "
                                f"{', '.join(results.get('parsing_errors') or []) or summary['parsing_errors']}")
            passed += len(results.get("passed_checks") or [])
            for check in results.get("failed_checks") or []:
                lines = check.get("file_line_range") or []
                where = origin_of(out, check.get("file_path", "?"), check.get("resource", "?"))
                rendered = "rendered " if result.get("check_type") == "kubernetes" else ""
                failures.append(f"{where}: {check['check_id']} {check.get('check_name')}"
                                f"{f' ({rendered}lines {lines[0]}-{lines[1]})' if len(lines) == 2 else ''}")
            for check in results.get("skipped_checks") or []:
                reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
                where = origin_of(out, check.get("file_path", "?"), check.get("resource", "?"))
                if not reason or reason == "No comment provided" or len(reason) < 10:
                    problems.append(f"{where}: skips {check['check_id']} without a reason "
                                    f"(write checkov.io/skipN: {check['check_id']}=<why>)")
                skips.append(f"{where}: {check['check_id']} {check.get('check_name')}: {reason}")
    for skip in skips:
        print(f"SKIP {skip}")
    for failure in failures:
        print(f"FAIL {failure}")
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"checkov: {passed} passed, {len(failures)} failed, {len(skips)} skipped inline, "
          f"{len(problems)} other problem(s)")
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
