"""The module graph check reads references the way the compiler resolves them (use trees, inline
paths, super::) and fails on a cycle between top-level modules."""

from checks import module_graph
from conftest import REPO

FIXTURES = REPO / "tools" / "tests" / "fixtures" / "module_graph"


def test_a_layered_crate_has_no_cycle_and_every_edge_is_found():
    graph = module_graph.edges(FIXTURES / "layered" / "src")
    assert set(graph["auth"]) == {"error", "state", "lib"}
    assert "auth" not in graph.get("state", {}), "text in a string or comment is not a reference"
    assert not module_graph.check(FIXTURES / "layered" / "src").problems


def test_a_cycle_through_three_modules_is_reported_with_its_edges():
    problems = module_graph.check(FIXTURES / "cyclic" / "src").problems
    assert len(problems) == 1
    assert "cycle through 3 modules" in problems[0]
    assert "error -> access_log (src/error.rs)" in problems[0]
