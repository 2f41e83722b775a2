"""The module graph of the crate in src/: which top-level module (`crate::x`) refers to which, and
the cycles in it. A cycle means two parts of the service cannot be understood, changed or tested
one without the other; the layering this project keeps is acyclic (README, "Layout").

References are read from the source text: `use crate::...` trees (braces included), `crate::a::b`
paths anywhere, and `super::` paths resolved from the file's own module path. A reference to the
crate root (`crate::Thing` defined in lib.rs) counts as an edge to `lib`, which is exempt: lib.rs
builds the router from every module, and everything may use what it defines at the root."""

import re
from pathlib import Path

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


def resolve(path: str, here: list[str]) -> str | None:
    """The top-level module a path refers to, or None for the file's own top-level module."""
    segments = [s for s in re.split(r"\s*::\s*", path) if s and s != "self"]
    if segments[0] == "crate":
        target = segments[1:]
    else:
        base = list(here)
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
        target = base + segments
    if not target:
        return ROOT
    return target[0]


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


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), root excluded."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, {}):
            if succ == ROOT:
                continue
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index and node != ROOT:
            visit(node)
    return found


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
