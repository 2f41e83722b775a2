"""The module graph of the crate in src/: which top-level module (`crate::x`) refers to which, and
the cycles in it. A cycle means two parts of the service cannot be understood, changed or tested
one without the other; the layering this project keeps is acyclic (README, "Layout").

References are read from the source text: `use crate::...` trees (braces included), `crate::a::b`
paths anywhere, and `super::` paths resolved from the file's own module path. A reference to the
crate root (`crate::Thing` defined in lib.rs) counts as an edge to `lib`, which is exempt: lib.rs
builds the router from every module, and everything may use what it defines at the root."""

import re
from pathlib import Path

import networkx

from checks.findings import Findings

USE = re.compile(r"\buse\s+((?:crate|super|self)\s*::[^;]*);", re.S)
PATH = re.compile(r"\b((?:crate|super)(?:\s*::\s*(?:super|[A-Za-z_][A-Za-z0-9_]*))+)")
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
ROOT = "lib"


def module_path(src: Path, file: Path) -> list[str]:
    """`src/auth/sessions/mod.rs` -> ["auth", "sessions"]; lib.rs and main.rs are the root."""
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod" or parts in (["lib"], ["main"]):
        parts = parts[:-1]
    return parts


def expand(tree: str) -> list[str]:
    """`crate::a::{b, c::{d, e}}` -> ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, _, rest = tree.partition("{")
    body, depth, parts, current = rest[:-1], 0, [], ""
    for char in body:
        depth += (char == "{") - (char == "}")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [path for part in parts if part for path in expand(head + part)]


def resolve(path: str, here: list[str]) -> str:
    """The top-level module a path refers to from the file whose module path is `here`."""
    target = list(here)
    for segment in re.split(r"\s*::\s*", path):
        if segment == "crate":
            target = []
        elif segment == "super":
            target = target[:-1]
        elif segment and segment != "self":
            target.append(segment)
    return target[0] if target else ROOT


def edges(src: Path) -> dict[str, dict[str, str]]:
    """For each top-level module, the modules it refers to, each with one file that does."""
    graph: dict[str, dict[str, str]] = {}
    modules = {module_path(src, f)[0] if module_path(src, f) else ROOT for f in src.rglob("*.rs")}
    for file in sorted(src.rglob("*.rs")):
        here = module_path(src, file)
        source = here[0] if here else ROOT
        text = STRING.sub('""', COMMENT.sub("", file.read_text(encoding="utf-8")))
        paths = [p for tree in USE.findall(text) for p in expand(tree)] + PATH.findall(USE.sub("", text))
        for path in paths:
            target = resolve(path, here)
            if target not in modules:
                target = ROOT  # an item of the crate root, not a module
            if target != source:
                graph.setdefault(source, {}).setdefault(target, str(file.relative_to(src.parent)))
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[tuple[str, ...]]:
    """The groups of two or more modules that each reach all the others (the root is exempt)."""
    digraph = networkx.DiGraph([(a, b) for a, targets in graph.items() for b in targets if ROOT not in (a, b)])
    return sorted(tuple(sorted(group)) for group in networkx.strongly_connected_components(digraph) if len(group) > 1)


def check(src: Path, show: bool = False) -> Findings:
    found = Findings("module graph")
    graph = edges(src)
    if show:
        for module in sorted(graph):
            print(f"{module} -> {', '.join(sorted(t for t in graph[module] if t != ROOT)) or '(none)'}")
    for component in cycles(graph):
        inside = [f"{a} -> {b} ({graph[a][b]})" for a in component for b in sorted(graph.get(a, {})) if b in component]
        found.add("src", f"import cycle through {len(component)} modules: " + "; ".join(inside))
    found.summary = f"{len(graph)} top-level modules"
    return found
