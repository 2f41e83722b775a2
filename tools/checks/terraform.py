"""Terraform module conventions, standing in for `terraform validate` as far as a parser can (no
terraform or tofu binary can be had here): every file parses; Terraform and the providers are
pinned; every resource is tagged; every variable is described, typed and validated; every reference
is declared and every declaration used; the tfvars example matches the variables; templatefile()
templates exist, get exactly the names they use, and render to shellcheck-clean scripts."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from checks import terraform_rules
from checks.findings import Findings
from checks.hcl import DIRECTIVE, Module, attr, blocks, first, load, render_template, text_of

MODULE = "(module)"  # where a finding concerns the module as a whole
# Resource types that take tags and get a Name (the provider's default_tags add the rest).
TAGGABLE = {
    "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table", "aws_nat_gateway", "aws_eip",
    "aws_default_security_group", "aws_security_group", "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule", "aws_instance", "aws_iam_role", "aws_iam_instance_profile",
    "aws_db_instance", "aws_db_subnet_group", "aws_db_parameter_group", "aws_cloudwatch_log_group",
    "aws_s3_bucket", "aws_ssm_parameter", "aws_kms_key", "aws_flow_log", "aws_launch_template",
}
REQUIRED_DEFAULT_TAGS = {"Project", "Environment", "ManagedBy"}
REF = r"(?<![\w.\-/]){}\.([A-Za-z_][A-Za-z0-9_-]*)"
RESOURCE_REF = re.compile(r"(?<![\w.\-/])((?:aws|random|tls|null)_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")
DATA_REF = re.compile(r"(?<![\w.\-/])data\.([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
TEMPLATE_CALL = re.compile(r'templatefile\(\\"\$\{path\.module\}/([^"\\]+)\\",\s*\{(.*?)\}\)')


def check_versions(module: Module, found: Findings) -> None:
    if not module.terraform:
        found.add(MODULE, "no terraform block")
    for block in module.terraform:
        if attr(block.body, "required_version") is None:
            found.add(block.file, "terraform block without required_version")
        required = {}
        for entry in blocks(block.body, "required_providers"):
            required.update({k: attr(entry, k) for k in entry})
        for name in ("aws", "random"):
            spec = required.get(name)
            if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
                found.add(block.file, f"required_providers.{name} needs a source and a version constraint")
                continue
            version = spec["version"]
            if not ("~>" in version or "<" in version or re.fullmatch(r"=?\s*[0-9.]+", version)):
                found.add(block.file, f"provider {name} version {version!r} has no upper bound (use ~> X.Y)")


def check_tags(module: Module, found: Findings) -> None:
    aws = [d for name, d in module.providers if name == "aws"]
    if not aws:
        found.add(MODULE, 'no provider "aws" block')
    for provider in aws:
        tags = attr(first(provider.body, "default_tags"), "tags")
        missing = REQUIRED_DEFAULT_TAGS - set(tags if isinstance(tags, dict) else {})
        if missing:
            found.add(provider.file, f"provider aws default_tags lack {', '.join(sorted(missing))}")
    for (rtype, name), declared in sorted(module.resources.items()):
        tags = attr(declared.body, "tags")
        if rtype in TAGGABLE and not (isinstance(tags, dict) and "Name" in tags):
            found.add(declared.file, f"{rtype}.{name} has no Name tag")


def check_variables(module: Module, found: Findings) -> None:
    for name, declared in sorted(module.variables.items()):
        body, where = declared.body, declared.file
        if len(str(attr(body, "description", "")).strip()) < 10:
            found.add(where, f"variable {name} has no (meaningful) description")
        kind = attr(body, "type")
        if kind is None:
            found.add(where, f"variable {name} has no type")
        validations = blocks(body, "validation")
        if kind != "${bool}" and not validations:
            found.add(where, f"variable {name} (type {kind}) has no validation block")
        for validation in validations:
            if f"var.{name}" not in str(attr(validation, "condition", "")):
                found.add(where, f"variable {name}: a validation condition does not test var.{name}")
            if not str(attr(validation, "error_message", "")).strip():
                found.add(where, f"variable {name}: a validation has no error_message")
    for name, declared in sorted(module.outputs.items()):
        if len(str(attr(declared.body, "description", "")).strip()) < 10:
            found.add(declared.file, f"output {name} has no (meaningful) description")


def check_references(module: Module, found: Findings) -> None:
    trees = module.tf_trees()
    everything = " ".join(text_of(tree) for tree in trees.values())
    # A variable's own validation does not count as a use of it.
    uses = " ".join(text_of({k: v for k, v in tree.items() if k != "variable"}) for tree in trees.values())
    used_vars = set(re.findall(REF.format("var"), uses))
    used_locals = set(re.findall(REF.format("local"), everything))
    for name in sorted(used_vars - set(module.variables)):
        found.add(MODULE, f"var.{name} is used but not declared")
    for name in sorted(set(module.variables) - used_vars):
        found.add(module.variables[name].file, f"variable {name} is declared but never used")
    for name in sorted(used_locals - set(module.locals)):
        found.add(MODULE, f"local.{name} is used but not declared")
    for name in sorted(set(module.locals) - used_locals):
        found.add(module.locals[name].file, f"local {name} is defined but never used")
    for key in sorted(set(DATA_REF.findall(everything)) - set(module.datas)):
        found.add(MODULE, f"data.{key[0]}.{key[1]} is used but not declared")
    for key in sorted(set(RESOURCE_REF.findall(everything)) - set(module.resources)):
        found.add(MODULE, f"{key[0]}.{key[1]} is referenced but not declared")
    for name in sorted(set(re.findall(REF.format("module"), everything)) - set(module.modules)):
        found.add(MODULE, f"module.{name} is used but not declared")
    for rel, tree in module.trees.items():
        if rel.endswith(".tfvars.example"):
            for key in sorted(set(tree) - set(module.variables)):
                found.add(rel, f"sets {key}, which is not a declared variable")
            for name, declared in sorted(module.variables.items()):
                if "default" not in declared.body and name not in tree:
                    found.add(rel, f"does not set the required variable {name}")


def check_templates(module: Module, found: Findings, rendered_dir: Path) -> list[Path]:
    """Checks each templatefile() call against its template and writes the rendered script."""
    rendered = []
    everything = " ".join(text_of(tree) for tree in module.tf_trees().values())
    for match in TEMPLATE_CALL.finditer(everything):
        template, args = match.group(1), match.group(2)
        path = module.root / template
        if not path.is_file():
            found.add(MODULE, f"templatefile() names {template}, which does not exist")
            continue
        provided = set(re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)':", args))
        text, used, unsupported = render_template(path.read_text(encoding="utf-8"))
        for inner in unsupported:
            found.add(template, f"${{{inner}}}: only plain ${{name}} interpolations are supported (escape shell expansions as $${{...}})")
        for name in sorted(used - provided):
            found.add(template, f"uses ${{{name}}}, which its templatefile() call does not pass")
        for name in sorted(provided - used):
            found.add(template, f"is passed {name} but never uses it")
        if DIRECTIVE.search(path.read_text(encoding="utf-8")):
            found.add(template, "has a %{ } directive: write %%{ for a literal, or extend this renderer")
        if path.name.endswith((".sh.tftpl", ".sh.tpl")):  # YAML templates are the deploy check's
            out = rendered_dir / (path.name + ".rendered.sh")
            out.write_text(text, encoding="utf-8")
            rendered.append(out)
    return rendered


def shellcheck(scripts: list[Path], found: Findings) -> None:
    if not scripts:
        found.add(MODULE, "no templatefile() template to render and shellcheck")
        return
    binary = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run([str(binary), "--shell=bash", *map(str, scripts)], capture_output=True, text=True)
    if result.returncode != 0:
        found.add("user data", "shellcheck found problems in the rendered template:\n" + result.stdout.strip())


def check(root: Path) -> Findings:
    """Every convention and project rule of the module at `root` (checkov runs separately)."""
    found = Findings("terraform conventions")
    module = load(root)
    if not any(name.endswith(".tf") for name in module.trees) and not module.parse_errors:
        found.add(MODULE, "no .tf files")
    for rel, error in sorted(module.parse_errors.items()):
        found.add(rel, f"does not parse: {error}")
    for step in (check_versions, check_tags, check_variables, check_references, terraform_rules.check):
        step(module, found)
    with tempfile.TemporaryDirectory() as scratch:
        shellcheck(check_templates(module, found, Path(scratch)), found)
    found.summary = (f"{len(module.variables)} variables, {len(module.outputs)} outputs, "
                     f"{len(module.resources)} resources, {len(module.datas)} data sources")
    return found

