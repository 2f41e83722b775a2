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
    terraform_rules,
)
from checks.findings import Findings
from checks.hcl import load

REPO = Path(__file__).resolve().parents[2]


def run_terraform(args) -> int:
    module_dir = Path(args.dir)
    status = terraform.check(module_dir).report()
    skips = terraform_rules.inline_skips(load(module_dir), Findings("skips"))
    report = checkov_scan.run(module_dir, "terraform")
    return max(status, checkov_scan.audit(report, skips, "terraform checkov").report())


def run_logscan(args) -> int:
    code, report = logscan.scan(Path(args.dir))
    print("\n".join(report))
    return code


def run_monitoring(args) -> int:
    return monitoring.check(Path(args.repo)).report()


def run_alert_routing(args) -> int:
    return alert_routing.check(Path(args.repo)).report()


def run_dashboards(args) -> int:
    files = [Path(f) for f in args.files] or sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    return dashboards.check(files).report()


def run_workflow_scripts(args) -> int:
    github = REPO / ".github"
    files = [Path(f) for f in args.files] or sorted([*github.glob("workflows/*.y*ml"), *github.glob("actions/*/action.y*ml")])
    return run_scripts.check(files).report()


def run_compose(args) -> int:
    return compose_file.check(Path(args.repo)).report()


def run_module_graph(args) -> int:
    return module_graph.check(Path(args.src), show=args.show).report()


def run_slo(args) -> int:
    return slo.check(Path(args.repo), write=args.write).report()


def run_deploy(args) -> int:
    return deploy.check(Path(args.repo))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m checks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    tf = commands.add_parser("terraform", help="the Terraform module: conventions, project rules, checkov")
    tf.add_argument("--dir", default=str(REPO / "deploy" / "terraform"))
    tf.set_defaults(run=run_terraform)
    logs = commands.add_parser("logscan", help="the test suite's logs: no secret, email or diary text")
    logs.add_argument("dir")
    logs.set_defaults(run=run_logscan)
    mon = commands.add_parser("monitoring", help="Prometheus, Alertmanager, alert rules and their runbook")
    mon.add_argument("--repo", default=str(REPO))
    mon.set_defaults(run=run_monitoring)
    routing = commands.add_parser("alert-routing", help="amtool: critical alerts at once, warnings in the daily digest")
    routing.add_argument("--repo", default=str(REPO))
    routing.set_defaults(run=run_alert_routing)
    dash = commands.add_parser("dashboards", help="the Grafana dashboards: schema, project rules, PromQL")
    dash.add_argument("files", nargs="*", help="default: grafana/dashboards/*.json")
    dash.set_defaults(run=run_dashboards)
    scripts = commands.add_parser("run-scripts", help="shellcheck on the workflows' run: scripts")
    scripts.add_argument("files", nargs="*", help="default: .github/workflows/*.yml")
    scripts.set_defaults(run=run_workflow_scripts)
    comp = commands.add_parser("compose", help="the Compose file resolves, pins its images, names existing files")
    comp.add_argument("--repo", default=str(REPO))
    comp.set_defaults(run=run_compose)
    graph = commands.add_parser("module-graph", help="src/'s top-level modules: no import cycle")
    graph.add_argument("--src", default=str(REPO / "src"))
    graph.add_argument("--show", action="store_true", help="print every module's dependencies")
    graph.set_defaults(run=run_module_graph)
    objectives = commands.add_parser("slo", help="prometheus/rules/slo.yml is what prometheus/slo.yml generates")
    objectives.add_argument("--repo", default=str(REPO))
    objectives.add_argument("--write", action="store_true", help="write the generated rules")
    objectives.set_defaults(run=run_slo)
    dep = commands.add_parser("deploy", help="deploy/: render, schemas, references, Argo rules, secrets, checkov, release")
    dep.add_argument("--repo", default=str(REPO))
    dep.set_defaults(run=run_deploy)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
