"""The Terraform module (deploy/terraform): conventions standing in for `terraform validate` as far as
a parser can (no terraform or tofu binary can be had here), the project rules checkov cannot know,
and the rules for checkov's own skips (checkov itself runs from __main__, through checkov_scan). The
module is read with the HCL parser checkov itself uses (bc-python-hcl2), so one install serves both;
that parser wraps every attribute value in a list and keeps expressions as `${...}` strings (`attr`
and `blocks` undo the wrapping).

Conventions: every file parses; Terraform and the providers are pinned; every resource is tagged;
every variable is described, typed and validated; every reference is declared and every declaration
used; the tfvars example matches the variables; templatefile() templates exist, get exactly the
names they use, and render to shellcheck-clean scripts.

Rules: the table RULES (one attribute each, with its reason), no SSH ingress and only 80 and 443
open to the internet, and no AWS managed policy that reads every SSM parameter of the account.

Skips: every checkov skip is an inline `#checkov:skip=ID:reason` line inside the block it excuses,
with a real reason, never of a check that guards what this module must never lose (NEVER_SKIP), and
never in a configuration file where nobody reviewing the resource would see it."""

import json
import re
import subprocess
import sys
import tempfile
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

from checks.findings import Findings

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
# A reference in the code: var.x, local.x, module.x, data.TYPE.NAME or TYPE.NAME (a resource).
REFERENCE = re.compile(r"(?<![\w.\-/])((?:var|local|module|data\.[a-z][a-z0-9_]*|(?:aws|random|tls|null)_[a-z0-9_]+)"
                       r"\.[A-Za-z_][\w-]*)")
TEMPLATE_CALL = re.compile(r'templatefile\(\\"\$\{path\.module\}/([^"\\]+)\\",\s*\{(.*?)\}\)')
# (a resource type, var or output, or a declaration's full name; its attribute, "block.attribute" in a
# nested block or "parameter:NAME" of a parameter group; the value it must have, or a test; why, or what
# the test wants). What checkov's own checks enforce and NEVER_SKIP keeps (IMDSv2 only, encrypted
# volumes and storage, a private database with deletion protection, SecureStrings) is not repeated here.
DESCRIBED = (lambda v: len(str(v or "").strip()) >= 10, "at least 10 characters")
RULES = [
    ("var", "description", *DESCRIBED),
    ("output", "description", *DESCRIBED),
    ("var", "type", lambda v: v is not None, "set"),
    ("aws_instance", "metadata_options.http_put_response_hop_limit", 2, "pods reach IMDS one hop away"),
    ("aws_instance", "key_name", None, "no key pair: no SSH, use SSM Session Manager"),
    ("aws_db_instance", "skip_final_snapshot", False, ""),
    ("aws_db_instance", "final_snapshot_identifier", lambda v: v is not None, "set"),
    ("aws_db_instance", "engine_version", lambda v: str(v).startswith("16"), "PostgreSQL 16 (as in Compose)"),
    ("aws_db_instance", "backup_retention_period", lambda v: not isinstance(v, int) or v >= 7, "at least 7"),
    ("var.db_backup_retention_days", "default", lambda v: not isinstance(v, int) or v >= 7, "at least 7"),
    ("aws_db_parameter_group", "family", "postgres16", ""),
    ("aws_db_parameter_group", "parameter:rds.force_ssl", "1", "TLS forced"),
    ("aws_db_parameter_group", "parameter:log_min_duration_statement", lambda v: str(v).isdigit(), "slow queries logged"),
    ("aws_db_parameter_group", "parameter:log_statement", lambda v: v != "all", "anything but all: no diary text"),
    ("aws_db_parameter_group", "parameter:log_parameter_max_length", "0", "bind values (diary text) not logged"),
    ("aws_ssm_parameter", "name", lambda v: str(v).startswith("${local.ssm_"), "a local.ssm_* name (External Secrets)"),
] + [(rtype, "tags", lambda v: isinstance(v, dict) and "Name" in v, "a map with a Name") for rtype in sorted(TAGGABLE)]
INGRESS = {  # resource type: its ingress rules
    "aws_security_group": lambda body: blocks(body, "ingress"),
    "aws_security_group_rule": lambda body: [body] if attr(body, "type") == "ingress" else [],
    "aws_vpc_security_group_ingress_rule": lambda body: [body],
}
# AWS managed policies that allow ssm:GetParameter(s) on every parameter of the account: attached to
# the node role, they would make the scoped read of /<project>/<environment>/ meaningless.
SSM_READ_ALL_POLICIES = re.compile(
    r"iam::aws:policy/(?:service-role/)?(AmazonSSMManagedInstanceCore|AmazonEC2RoleforSSM|"
    r"AmazonSSMFullAccess|AmazonSSMReadOnlyAccess|AmazonSSMManagedEC2InstanceDefaultPolicy)\b")
NEVER_SKIP = {
    "CKV_AWS_79": "IMDSv1 enabled", "CKV_AWS_8": "unencrypted EBS", "CKV_AWS_16": "unencrypted RDS",
    "CKV_AWS_17": "public RDS", "CKV_AWS_293": "RDS deletion protection",
    "CKV_AWS_133": "RDS backups", "CKV_AWS_24": "SSH from the internet",
    "CKV_AWS_25": "RDP from the internet", "CKV_AWS_277": "all ports from the internet",
    "CKV_AWS_46": "secrets in user data", "CKV2_AWS_6": "S3 public access block",
    "CKV_AWS_53": "S3 public ACLs", "CKV_AWS_54": "S3 public policy", "CKV_AWS_55": "S3 public ACLs",
    "CKV_AWS_56": "S3 public buckets", "CKV_AWS_1": "admin IAM policy",
    "CKV_AWS_274": "AdministratorAccess", "CKV2_AWS_69": "RDS without TLS",
    "CKV2_AWS_34": "unencrypted SSM parameter", "CKV_AWS_88": "EC2 public IP",
    "CKV_AWS_337": "SecureStrings under aws/ssm, which every principal of the account may decrypt",
    "CKV_AWS_7": "KMS key without rotation", "CKV_AWS_33": "KMS key policy with a wildcard principal",
}
SKIP_LINE = re.compile(r"^\s*#checkov:skip=(CKV2?_[A-Z0-9]+_[0-9]+)(?::(.*))?$")
CONFIG_FILE = re.compile(r"\.?checkov\.(ya?ml|json)")
MIN_REASON = 40


META_KEYS = {"__start_line__", "__end_line__"}
# How the module's code names each kind of declaration: var.NAME, local.NAME, ... (an output is
# never referred to; a resource is named TYPE.NAME, see Module.references).
PREFIXES = {"variable": "var.", "locals": "local.", "output": "output.", "module": "module.", "resource": "resource.",
            "data": "data."}


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


# Where a declaration lives and what it says (a block's body keeps its __start_line__ and __end_line__).
Declared = namedtuple("Declared", ["file", "body"])


@dataclass
class Module:
    """The declarations of the .tf files (examples are parsed, but are not part of the module), each
    under its kind's prefix and name: var.region, resource.aws_vpc.main, data.aws_ami.ubuntu."""

    root: Path
    trees: dict[str, dict] = field(default_factory=dict)
    parse_errors: dict[str, str] = field(default_factory=dict)
    declared: dict[str, Declared] = field(default_factory=dict)
    providers: list[tuple[str, Declared]] = field(default_factory=list)
    terraform: list[Declared] = field(default_factory=list)

    def tf_trees(self):
        return {rel: tree for rel, tree in self.trees.items() if rel.endswith(".tf")}

    def named(self, prefix: str) -> dict[str, Declared]:
        """The declarations under one prefix by the rest of their name: named("var.")["region"]."""
        return {key.removeprefix(prefix): d for key, d in sorted(self.declared.items()) if key.startswith(prefix)}

    def references(self) -> set[str]:
        """What the code may refer to: var.x, local.x, module.x, data.TYPE.NAME and TYPE.NAME."""
        return {key.removeprefix("resource.") for key in self.declared if not key.startswith("output.")}


def load(root: Path) -> Module:
    module = Module(root)
    paths = sorted(root.glob("*.tf")) + sorted(root.glob("*.tf.example")) + sorted(root.glob("*.tfvars.example"))
    for path in paths:
        try:
            module.trees[path.name] = hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as error:  # the parser raises lark errors of several kinds
            module.parse_errors[path.name] = " ".join(str(error).strip().splitlines()[:3])
    for rel, tree in module.tf_trees().items():
        for kind, prefix in PREFIXES.items():
            for block in blocks(tree, kind):
                # A resource or data block is {type: {name: body}}; the others are {name: body}.
                named = {f"{t}.{n}": b for t, of_type in block.items() for n, b in of_type.items()} \
                    if kind in ("resource", "data") else block
                module.declared.update({prefix + n: Declared(rel, b) for n, b in named.items() if n not in META_KEYS})
        module.providers += [(n, Declared(rel, b)) for block in blocks(tree, "provider") for n, b in block.items()]
        module.terraform += [Declared(rel, b) for b in blocks(tree, "terraform")]
    return module


# Unescaped ${...} of a template (`$${` is a literal), and %{ directives (`%%{` is a literal).
INTERPOLATION = re.compile(r"(?<!\$)\$\{([^}]*)\}")
DIRECTIVE = re.compile(r"(?<!%)%\{")
PLAIN_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def render_template(text: str) -> tuple[str, set[str], list[str]]:
    """A template with every ${name} replaced by a placeholder: (rendered text, names used,
    interpolations this renderer cannot handle)."""
    inners = INTERPOLATION.findall(text)
    used = {plain[1] for plain in map(PLAIN_NAME.match, inners) if plain}
    unsupported = [inner for inner in inners if not PLAIN_NAME.match(inner)]
    rendered = INTERPOLATION.sub(lambda m: "placeholder-" + m.group(1).strip().replace("_", "-"), text)
    return rendered.replace("$${", "${").replace("%%{", "%{"), used, unsupported


def check_versions(module: Module, found: Findings) -> None:
    if not module.terraform:
        found.add(MODULE, "no terraform block")
    for block in module.terraform:
        if attr(block.body, "required_version") is None:
            found.add(block.file, "terraform block without required_version")
        required = {k: attr(entry, k) for entry in blocks(block.body, "required_providers") for k in entry}
        for name in ("aws", "random"):
            spec = required.get(name)
            if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
                found.add(block.file, f"required_providers.{name} needs a source and a version constraint")
            elif not ("~>" in spec["version"] or "<" in spec["version"] or re.fullmatch(r"=?\s*[0-9.]+", spec["version"])):
                found.add(block.file, f"provider {name} version {spec['version']!r} has no upper bound (use ~> X.Y)")


def check_tags(module: Module, found: Findings) -> None:
    aws = [d for name, d in module.providers if name == "aws"]
    if not aws:
        found.add(MODULE, 'no provider "aws" block')
    for provider in aws:
        tags = attr(first(provider.body, "default_tags"), "tags")
        if missing := REQUIRED_DEFAULT_TAGS - set(tags if isinstance(tags, dict) else {}):
            found.add(provider.file, f"provider aws default_tags lack {', '.join(sorted(missing))}")


def check_validations(module: Module, found: Findings) -> None:
    for name, declared in module.named("var.").items():
        where, kind, validations = declared.file, attr(declared.body, "type"), blocks(declared.body, "validation")
        if kind != "${bool}" and not validations:
            found.add(where, f"variable {name} (type {kind}) has no validation block")
        for validation in validations:
            if f"var.{name}" not in str(attr(validation, "condition", "")):
                found.add(where, f"variable {name}: a validation condition does not test var.{name}")
            if not str(attr(validation, "error_message", "")).strip():
                found.add(where, f"variable {name}: a validation has no error_message")


def check_references(module: Module, found: Findings) -> None:
    trees = module.tf_trees().values()
    used = set(REFERENCE.findall(" ".join(map(json.dumps, trees))))
    # A variable's own validation does not count as a use of it.
    used_vars = set(REFERENCE.findall(" ".join(json.dumps({k: v for k, v in t.items() if k != "variable"}) for t in trees)))
    for name in sorted(used - module.references()):
        found.add(MODULE, f"{name} is used but not declared")
    for name, declared in sorted(module.declared.items()):
        if name.startswith(("var.", "local.")) and name not in (used_vars if name.startswith("var.") else used):
            found.add(declared.file, f"{name} is declared but never used")
    for rel, tree in module.trees.items():
        if rel.endswith(".tfvars.example"):
            variables = module.named("var.")
            for key in sorted(set(tree) - set(variables)):
                found.add(rel, f"sets {key}, which is not a declared variable")
            for name in sorted(n for n, d in variables.items() if "default" not in d.body and n not in tree):
                found.add(rel, f"does not set the required variable {name}")


def value(body: dict, path: str):
    """An attribute of a body, `block.attribute` of its first nested block, or `parameter:NAME`."""
    if path.startswith("parameter:"):
        return next((str(attr(p, "value")) for p in blocks(body, "parameter") if attr(p, "name") == path[10:]), None)
    *outer, key = path.split(".")
    for block in outer:
        body = first(body, block)
    return attr(body, key)


def check_rules(module: Module, found: Findings) -> None:
    for name, declared in sorted((k.removeprefix("resource."), d) for k, d in module.declared.items()):
        for kind, path, wanted, why in RULES:
            if name != kind and name.split(".")[0] != kind:
                continue
            got = value(declared.body, path)
            if not (wanted(got) if callable(wanted) else got == wanted and type(got) is type(wanted)):
                what = why if callable(wanted) else json.dumps(wanted) + (f" ({why})" if why else "")
                found.add(declared.file, f"{name}: {path} must be {what}")
        for rule in INGRESS.get(name.split(".")[0], lambda _: [])(declared.body):
            low, high = attr(rule, "from_port"), attr(rule, "to_port")
            if str(attr(rule, "ip_protocol", attr(rule, "protocol", ""))) in ("-1", "all") or \
                    (isinstance(low, int) and isinstance(high, int) and low <= 22 <= high):
                found.add(declared.file, f"{name}: ingress covering SSH (22) or all ports; use SSM Session Manager")
            if re.search(r"0\.0\.0\.0/0|::/0", json.dumps(rule)) and not (low == high and low in (80, 443)):
                found.add(declared.file, f"{name}: only 80 and 443 may be open to the internet")
    for policy in sorted(set(SSM_READ_ALL_POLICIES.findall(" ".join(map(json.dumps, module.tf_trees().values()))))):
        found.add(MODULE, f"the AWS managed policy {policy} is attached: it reads every SSM parameter of the "
                  "account; grant Session Manager's actions inline (iam.tf) instead")


def check_templates(module: Module, found: Findings, rendered_dir: Path) -> list[Path]:
    """Checks each templatefile() call against its template and writes the rendered script."""
    rendered = []
    for template, args in TEMPLATE_CALL.findall(" ".join(map(json.dumps, module.tf_trees().values()))):
        path = module.root / template
        if not path.is_file():
            found.add(MODULE, f"templatefile() names {template}, which does not exist")
            continue
        provided, source = set(re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)':", args)), path.read_text(encoding="utf-8")
        text, used, unsupported = render_template(source)
        for inner in unsupported:
            found.add(template, f"${{{inner}}}: only plain ${{name}} interpolations are supported (escape shell "
                                "expansions as $${...})")
        for name in sorted(used - provided):
            found.add(template, f"uses ${{{name}}}, which its templatefile() call does not pass")
        for name in sorted(provided - used):
            found.add(template, f"is passed {name} but never uses it")
        if DIRECTIVE.search(source):
            found.add(template, "has a %{ } directive: write %%{ for a literal, or extend this renderer")
        if path.name.endswith((".sh.tftpl", ".sh.tpl")):  # YAML templates are the deploy check's
            rendered.append(rendered_dir / (path.name + ".rendered.sh"))
            rendered[-1].write_text(text, encoding="utf-8")
    return rendered


def shellcheck(scripts: list[Path], found: Findings) -> None:
    if not scripts:
        found.add(MODULE, "no templatefile() template to render and shellcheck")
        return
    binary = Path(sys.executable).parent / "shellcheck"
    result = subprocess.run([str(binary), "--shell=bash", *map(str, scripts)], capture_output=True, text=True)
    if result.returncode != 0:
        found.add("user data", "shellcheck found problems in the rendered template:\n" + result.stdout.strip())


def inline_skips(module: Module, found: Findings) -> list[dict]:
    """The `#checkov:skip=` lines, each placed in the resource or data block around it."""
    spans = [(d.file, (d.body.get("__start_line__", 0), d.body.get("__end_line__", 0)), key.split(".", 1)[1])
             for key, d in module.declared.items() if key.startswith(("resource.", "data."))]
    skips = []
    for path in sorted(module.root.glob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            where, match = f"{path.name}:{number}", SKIP_LINE.match(line)
            owner = next((a for f, (lo, hi), a in spans if f == path.name and lo < number < hi), None)
            if not match:
                found.add(where, "a checkov skip must be a `#checkov:skip=ID:reason` line of its own")
            elif owner is None:
                found.add(where, "a checkov skip outside a resource or data block excuses nothing; put it in the block")
            else:
                skips.append({"file": path.name, "resource": owner, "check": match[1], "reason": (match[2] or "").strip()})
    return skips


def check_skips(module: Module, found: Findings) -> None:
    for path in module.root.rglob("*"):
        if CONFIG_FILE.fullmatch(path.name):
            found.add(str(path.relative_to(module.root)), "checkov configuration file: every skip must be inline, with its reason")
    for skip in inline_skips(module, found):
        where, check_id, reason = f"{skip['file']}: {skip['resource']}", skip["check"], skip["reason"]
        if check_id in NEVER_SKIP:
            found.add(where, f"{check_id} ({NEVER_SKIP[check_id]}) must never be skipped")
        if len(reason) < MIN_REASON or len(reason.split()) < 6:
            found.add(where, f"skip of {check_id} without a real justification ({reason!r}); say why and what the trade-off is")


def check(root: Path) -> Findings:
    """Every convention, project rule and skip rule of the module at `root` (checkov runs separately)."""
    found = Findings("terraform conventions")
    module = load(root)
    if not any(name.endswith(".tf") for name in module.trees) and not module.parse_errors:
        found.add(MODULE, "no .tf files")
    for rel, error in sorted(module.parse_errors.items()):
        found.add(rel, f"does not parse: {error}")
    for step in (check_versions, check_tags, check_validations, check_references, check_rules, check_skips):
        step(module, found)
    with tempfile.TemporaryDirectory() as scratch:
        shellcheck(check_templates(module, found, Path(scratch)), found)
    found.summary = ", ".join(f"{len(module.named(prefix))} {kind}" for kind, prefix in (
        ("variables", "var."), ("outputs", "output."), ("resources", "resource."), ("data sources", "data.")))
    return found
