"""A Terraform root module as the checks see it, parsed with the HCL parser checkov itself uses
(bc-python-hcl2), so one install serves both. That parser wraps every attribute value in a list and
keeps expressions as `${...}` strings; `attr` and `blocks` undo the wrapping."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

META_KEYS = {"__start_line__", "__end_line__"}


def attr(body, key, default=None):
    """An attribute's value: the parser stores `key = v` as `[v]`."""
    value = body.get(key, default) if isinstance(body, dict) else default
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def blocks(body, key):
    """The nested blocks `key { ... }` of a body (an object attribute reads the same way)."""
    value = body.get(key, []) if isinstance(body, dict) else []
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def first(body, key):
    found = blocks(body, key)
    return found[0] if found else {}


def strip_meta(node):
    if isinstance(node, dict):
        return {k: strip_meta(v) for k, v in node.items() if k not in META_KEYS}
    if isinstance(node, list):
        return [strip_meta(v) for v in node]
    return node


def text_of(node) -> str:
    """An expression tree as one string, for reference searches."""
    return json.dumps(strip_meta(node))


@dataclass
class Declared:
    """Where a declaration lives and what it says."""

    file: str
    body: dict
    lines: tuple[int, int] = (0, 0)


@dataclass
class Module:
    """The declarations of the .tf files (examples are parsed, but are not part of the module)."""

    root: Path
    trees: dict[str, dict] = field(default_factory=dict)
    parse_errors: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Declared] = field(default_factory=dict)
    outputs: dict[str, Declared] = field(default_factory=dict)
    locals: dict[str, Declared] = field(default_factory=dict)
    resources: dict[tuple[str, str], Declared] = field(default_factory=dict)
    datas: dict[tuple[str, str], Declared] = field(default_factory=dict)
    modules: dict[str, Declared] = field(default_factory=dict)
    providers: list[tuple[str, Declared]] = field(default_factory=list)
    terraform: list[Declared] = field(default_factory=list)

    def tf_trees(self):
        return {rel: tree for rel, tree in self.trees.items() if rel.endswith(".tf")}

    def of_type(self, rtype):
        return [(name, d) for (t, name), d in sorted(self.resources.items()) if t == rtype]


def _lines(body):
    return (body.get("__start_line__", 0), body.get("__end_line__", 0))


def load(root: Path) -> Module:
    module = Module(root)
    paths = sorted(root.glob("*.tf")) + sorted(root.glob("*.tf.example")) + sorted(root.glob("*.tfvars.example"))
    for path in paths:
        rel = path.name
        try:
            module.trees[rel] = hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as error:  # the parser raises lark errors of several kinds
            module.parse_errors[rel] = " ".join(str(error).strip().splitlines()[:3])
    for rel, tree in module.tf_trees().items():
        for block in blocks(tree, "variable"):
            module.variables.update({n: Declared(rel, b, _lines(b)) for n, b in block.items()})
        for block in blocks(tree, "output"):
            module.outputs.update({n: Declared(rel, b, _lines(b)) for n, b in block.items()})
        for block in blocks(tree, "locals"):
            module.locals.update({n: Declared(rel, v) for n, v in block.items() if n not in META_KEYS})
        for kind, store in (("resource", module.resources), ("data", module.datas)):
            for block in blocks(tree, kind):
                for rtype, named in block.items():
                    store.update({(rtype, n): Declared(rel, b, _lines(b)) for n, b in named.items()})
        for block in blocks(tree, "module"):
            module.modules.update({n: Declared(rel, b, _lines(b)) for n, b in block.items()})
        for block in blocks(tree, "provider"):
            module.providers += [(n, Declared(rel, b, _lines(b))) for n, b in block.items()]
        module.terraform += [Declared(rel, b, _lines(b)) for b in blocks(tree, "terraform")]
    return module


# Unescaped ${...} of a template (`$${` is a literal), and %{ directives (`%%{` is a literal).
INTERPOLATION = re.compile(r"(?<!\$)\$\{([^}]*)\}")
DIRECTIVE = re.compile(r"(?<!%)%\{")
PLAIN_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def render_template(text: str) -> tuple[str, set[str], list[str]]:
    """A template with every ${name} replaced by a placeholder: (rendered text, names used,
    interpolations this renderer cannot handle)."""
    used, unsupported = set(), []
    for inner in INTERPOLATION.findall(text):
        plain = PLAIN_NAME.match(inner)
        if plain:
            used.add(plain.group(1))
        else:
            unsupported.append(inner)
    rendered = INTERPOLATION.sub(lambda m: "placeholder-" + m.group(1).strip().replace("_", "-"), text)
    return rendered.replace("$${", "${").replace("%%{", "%{"), used, unsupported
