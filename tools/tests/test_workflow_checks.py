"""The workflow run: script check and the Compose check pass what is committed and fail on a
planted fault, naming where it is."""

import pytest

from checks import compose_file, run_scripts
from conftest import REPO, fails_on

FIXTURES = REPO / "tools" / "tests" / "fixtures" / "workflows"


def test_the_committed_workflows_run_scripts_pass():
    assert not run_scripts.check(sorted((REPO / ".github" / "workflows").glob("*.yml"))).problems


def test_a_run_script_finding_points_at_its_line_of_the_workflow():
    problems = run_scripts.check([FIXTURES / "unquoted-run.yml"]).problems
    assert [p for p in problems if "unquoted-run.yml:12:" in p and "SC2086" in p], problems


COMPOSE_FILES = ("docker-compose.yml", "Dockerfile", ".env.example", "prometheus", "alertmanager", "grafana", "loki",
                 "postgres-exporter")


def test_the_committed_compose_file_passes(plant):
    assert not compose_file.check(plant(*COMPOSE_FILES).root).problems


FAULTS = {
    "an image on latest": (lambda r: r.replace("docker-compose.yml", "axllent/mailpit:v1.30.7", "axllent/mailpit:latest"), "is not pinned to a version tag"),
    "a bind mount of a missing file": (lambda r: r.replace("docker-compose.yml", "./loki/loki.yml:", "./loki/loki-missing.yml:"), "loki/loki-missing.yml does not exist"),
    "a key Compose rejects": (lambda r: r.replace("docker-compose.yml", "    image: grafana/loki:3.7.6", "    image: grafana/loki:3.7.6\n    restart_policy: always"), "does not resolve"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_compose_check_fails_on(plant, fault):
    fails_on(plant(*COMPOSE_FILES), FAULTS[fault], lambda repo: compose_file.check(repo.root).problems)
