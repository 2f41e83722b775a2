"""checkov, run so that nothing out of sight can skip a check, and its JSON report read back.

checkov reads .checkov.yaml from the scanned directory, the working directory and $HOME, and CKV_*
variables from the environment: any of those could skip checks. So it runs in an empty working
directory with an empty home and no CKV_* variable, offline (--skip-download)."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from checks.findings import Findings


def run(target: Path, framework: str, *extra: str) -> dict:
    """checkov's report for one framework over `target` (a directory)."""
    binary = Path(sys.executable).parent / "checkov"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKV_")}
    with tempfile.TemporaryDirectory() as scratch:
        env["HOME"] = scratch
        result = subprocess.run(
            [str(binary), "-d", str(target), "--framework", framework, "--skip-download",
             "--output", "json", *extra],
            cwd=scratch, env=env, capture_output=True, text=True)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"checkov produced no JSON report:\n{result.stderr[-2000:]}") from None
    if isinstance(report, list):
        report = next((r for r in report if r.get("check_type") == framework), {})
    return report


def file_and_line(failed: dict) -> str:
    return f"{failed.get('file_path', '?').lstrip('/')}:{failed.get('file_line_range', [0])[0]}"


def audit(report: dict, declared_skips: list[dict], name: str, locate=file_and_line) -> Findings:
    """Failed checks (each where `locate` says it is, with its details), parsing errors, a scan that
    passed nothing, skips without a reason and skips no check used."""
    found = Findings(name)
    summary, results = report.get("summary", {}), report.get("results", {})
    for failed in results.get("failed_checks", []):
        where = locate(failed)  # first: it may fill in the details
        details = "".join(f"; {d}" for d in failed.get("details") or [])
        found.add(where, f"{failed['resource']}: {failed['check_id']} {failed.get('check_name', '')}{details}")
    if summary.get("parsing_errors"):
        found.add("checkov", f"could not parse {summary['parsing_errors']} file(s): {results.get('parsing_errors')}")
    if not summary.get("passed"):
        found.add("checkov", "no check passed at all: did it see the files?")
    for skip in results.get("skipped_checks", []):
        if len(((skip.get("check_result") or {}).get("suppress_comment") or "").replace("No comment provided", "")) < 10:
            found.add(locate(skip), f"skips {skip['check_id']} without a reason: say why where it is skipped")
    used = {(c["check_id"], c["resource"].split("[")[0]) for c in results.get("skipped_checks", [])}
    for skip in declared_skips:
        if (skip["check"], skip["resource"]) not in used:
            found.add(f"{skip['file']}: {skip['resource']}", f"skip of {skip['check']} is stale (no such check on it)")
    found.summary = (f"{summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
                     f"{summary.get('skipped', 0)} skipped inline with a reason")
    return found
