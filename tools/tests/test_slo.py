"""The SLO check passes the committed spec and rules, and fails when the rules were not regenerated
after a change of the spec, or when a latency threshold is not a bucket the service records."""

import pytest

from checks import slo
from conftest import fails_on

FILES = ("prometheus", "src/monitoring.rs")


def test_the_committed_rules_are_what_the_spec_generates(plant):
    assert not slo.check(plant(*FILES).root).problems


FAULTS = {
    "an objective changed without regenerating": (lambda r: r.replace(slo.SPEC, "objective: 0.995", "objective: 0.999"),
                                                  "prometheus/rules/slo.yml: is not what prometheus/slo.yml generates"),
    "a rule edited by hand": (lambda r: r.replace(slo.RULES, "> 0.072", "> 0.1"), "is not what prometheus/slo.yml generates"),
    "a threshold between buckets": (lambda r: r.replace(slo.SPEC, "threshold_seconds: 0.3", "threshold_seconds: 0.35"),
                                    "latency: 0.35 s is not a bucket of LATENCY_BUCKETS"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_slo_check_fails_on(plant, fault):
    fails_on(plant(*FILES), FAULTS[fault], lambda repo: slo.check(repo.root).problems)


def test_write_makes_the_rules_match_again(plant):
    repo = plant(*FILES).replace(slo.SPEC, "objective: 0.995", "objective: 0.999")
    slo.check(repo.root, write=True)
    assert not slo.check(repo.root).problems
