"""`python -m checks NAME [ARGS]`: run one of the repository's checks (run from tools/, or with
tools/ on PYTHONPATH). Exit status 0 when it passed, 1 when it found problems, 2 for bad usage."""

import argparse
from pathlib import Path

from checks import (
    alert_routing,
    checkov_scan,
    compose_file,
    dashboards,
    deploy,
    logscan,
    module_graph,
    monitoring,
    run_scripts,
    slo,
    terraform,
)
from checks.findings import Findings

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"


def run_terraform(args) -> int:
    module_dir = Path(args.dir)
    status = terraform.check(module_dir).report()
    skips = terraform.inline_skips(terraform.load(module_dir), Findings("skips"))
    report = checkov_scan.run(module_dir, "terraform")
    return max(status, checkov_scan.audit(report, skips, "terraform checkov").report())


def files_or(default: list[Path]):
    """An optional FILES argument: the files named, or DEFAULT."""
    return {"nargs": "*", "type": Path, "default": default}


# name: (help, its arguments, what runs it)
COMMANDS = {
    "monitoring": ("Prometheus, Alertmanager, alert rules and their runbook", {"--repo": {"default": REPO}},
                   lambda a: monitoring.check(Path(a.repo)).report()),
    "alert-routing": ("amtool: critical alerts at once, warnings in the daily digest", {"--repo": {"default": REPO}},
                      lambda a: alert_routing.check(Path(a.repo)).report()),
    "dashboards": ("the Grafana dashboards: schema, project rules, PromQL",
                   {"files": files_or(sorted((REPO / "grafana" / "dashboards").glob("*.json")))},
                   lambda a: dashboards.check(a.files).report()),
    "compose": ("the Compose file resolves, pins its images, names existing files", {"--repo": {"default": REPO}},
                lambda a: compose_file.check(Path(a.repo)).report()),
    "run-scripts": ("shellcheck on the workflows' and composite actions' run: scripts",
                    {"files": files_or(sorted([*GITHUB.glob("workflows/*.y*ml"), *GITHUB.glob("actions/*/action.y*ml")]))},
                    lambda a: run_scripts.check(a.files).report()),
    "terraform": ("the Terraform module: conventions, project rules, checkov",
                  {"--dir": {"default": REPO / "deploy" / "terraform"}}, run_terraform),
    "deploy": ("deploy/: render, schemas, references, Argo rules, secrets, checkov, release",
               {"--repo": {"default": REPO}}, lambda a: deploy.check(Path(a.repo))),
    "module-graph": ("src/'s top-level modules: no import cycle",
                     {"--src": {"default": REPO / "src"},
                      "--show": {"action": "store_true", "help": "print every module's dependencies"}},
                     lambda a: module_graph.check(Path(a.src), show=a.show).report()),
    "slo": ("prometheus/rules/slo.yml is what prometheus/slo.yml generates",
            {"--repo": {"default": REPO}, "--write": {"action": "store_true", "help": "write the generated rules"}},
            lambda a: slo.check(Path(a.repo), write=a.write).report()),
    "logscan": ("the test suite's logs: no secret, email or diary text", {"dir": {}},
                lambda a: logscan.check(Path(a.dir)).report()),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m checks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (summary, arguments, run) in COMMANDS.items():
        command = commands.add_parser(name, help=summary)
        for flag, options in arguments.items():
            command.add_argument(flag, **options)
        command.set_defaults(run=run)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
