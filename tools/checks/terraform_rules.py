"""Project rules checkov cannot know, and the rules for checkov's own skips.

Rules: IMDSv2 with hop limit 2, no SSH ingress and no key pair, only 80 and 443 open to the
internet, PostgreSQL 16 with deletion protection, TLS forced, slow queries logged without bind
values, SecureString parameters named from the External Secrets contract, and no AWS managed policy
that reads every SSM parameter of the account.

Skips: every checkov skip is an inline `#checkov:skip=ID:reason` line inside the block it excuses,
with a real reason, never of a check that guards what this module must never lose, and never in a
configuration file where nobody reviewing the resource would see it."""

import json
import re

from checks.findings import Findings
from checks.hcl import Module, attr, blocks, first

MODULE = "(module)"
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
SKIP_LINE = re.compile(r"^\s*#checkov:skip=(CKV2?_[A-Z0-9]+_[0-9]+)(?::(.*))?$")
CONFIG_FILE = re.compile(r"\.?checkov\.(ya?ml|json)")
MIN_REASON = 40


def check_instances(module: Module, found: Findings) -> None:
    for name, d in module.of_type("aws_instance"):
        meta = first(d.body, "metadata_options")
        if attr(meta, "http_tokens") != "required":
            found.add(d.file, f'aws_instance.{name}: metadata_options.http_tokens must be "required" (IMDSv2)')
        if attr(meta, "http_put_response_hop_limit") != 2:
            found.add(d.file, f"aws_instance.{name}: http_put_response_hop_limit must be 2 (pods reach IMDS one hop away)")
        if "key_name" in d.body:
            found.add(d.file, f"aws_instance.{name}: no key pair (no SSH; use SSM Session Manager)")
        if attr(first(d.body, "root_block_device"), "encrypted") is not True:
            found.add(d.file, f"aws_instance.{name}: root volume must be encrypted")


def check_ingress(module: Module, found: Findings) -> None:
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule", "aws_security_group"):
        for name, d in module.of_type(rtype):
            if rtype == "aws_security_group_rule" and attr(d.body, "type") != "ingress":
                continue
            for rule in blocks(d.body, "ingress") if rtype == "aws_security_group" else [d.body]:
                low, high = attr(rule, "from_port"), attr(rule, "to_port")
                protocol = str(attr(rule, "ip_protocol", attr(rule, "protocol", "")))
                if protocol in ("-1", "all") or (isinstance(low, int) and isinstance(high, int) and low <= 22 <= high):
                    found.add(d.file, f"{rtype}.{name}: ingress covering SSH (22) or all ports; use SSM Session Manager")
                text = json.dumps(rule)
                if ("0.0.0.0/0" in text or "::/0" in text) and not (low == high and low in (80, 443)):
                    found.add(d.file, f"{rtype}.{name}: only 80 and 443 may be open to the internet")


def check_database(module: Module, found: Findings) -> None:
    expected = {"storage_encrypted": True, "deletion_protection": True, "publicly_accessible": False,
                "skip_final_snapshot": False}
    for name, d in module.of_type("aws_db_instance"):
        for key, value in expected.items():
            if attr(d.body, key) is not value:
                found.add(d.file, f"aws_db_instance.{name}: {key} must be {str(value).lower()}")
        if not str(attr(d.body, "engine_version", "")).startswith("16"):
            found.add(d.file, f"aws_db_instance.{name}: engine_version must be PostgreSQL 16 (the Compose stack's major)")
        if "final_snapshot_identifier" not in d.body:
            found.add(d.file, f"aws_db_instance.{name}: needs a final_snapshot_identifier")
        retention = attr(d.body, "backup_retention_period")
        if isinstance(retention, int) and retention < 7:
            found.add(d.file, f"aws_db_instance.{name}: backup_retention_period must be at least 7")
    retention_var = module.variables.get("db_backup_retention_days")
    if retention_var and isinstance(attr(retention_var.body, "default"), int) and attr(retention_var.body, "default") < 7:
        found.add(retention_var.file, "db_backup_retention_days must default to at least 7")
    for name, d in module.of_type("aws_db_parameter_group"):
        params = {attr(p, "name"): str(attr(p, "value")) for p in blocks(d.body, "parameter")}
        if attr(d.body, "family") != "postgres16":
            found.add(d.file, f"aws_db_parameter_group.{name}: family must be postgres16")
        if params.get("rds.force_ssl") != "1":
            found.add(d.file, f"aws_db_parameter_group.{name}: rds.force_ssl must be 1")
        if not params.get("log_min_duration_statement", "-1").isdigit():
            found.add(d.file, f"aws_db_parameter_group.{name}: log_min_duration_statement must log slow queries")
        if params.get("log_statement") == "all" or params.get("log_parameter_max_length") != "0":
            found.add(d.file, f"aws_db_parameter_group.{name}: bind values (diary text) must not be logged")


def check_secrets(module: Module, found: Findings) -> None:
    text = " ".join(json.dumps(tree) for tree in module.tf_trees().values())
    for policy in sorted(set(SSM_READ_ALL_POLICIES.findall(text))):
        found.add(MODULE, f"the AWS managed policy {policy} is attached: it reads every SSM parameter of the "
                  "account; grant Session Manager's actions inline (iam.tf) instead")
    for name, d in module.of_type("aws_ssm_parameter"):
        if attr(d.body, "type") != "SecureString":
            found.add(d.file, f"aws_ssm_parameter.{name}: secrets must be SecureString")
        if not str(attr(d.body, "name", "")).startswith("${local.ssm_"):
            found.add(d.file, f"aws_ssm_parameter.{name}: name must come from the local.ssm_* names (the External Secrets contract)")


def inline_skips(module: Module, found: Findings) -> list[dict]:
    """The `#checkov:skip=` lines, each placed in the resource or data block around it."""
    spans = [(d.file, d.lines, f"{t}.{n}") for store in (module.resources, module.datas)
             for (t, n), d in store.items()]
    skips = []
    for path in sorted(module.root.glob("*.tf")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            where = f"{path.name}:{number}"
            match = SKIP_LINE.match(line)
            if not match:
                found.add(where, "a checkov skip must be a `#checkov:skip=ID:reason` line of its own")
                continue
            owner = next((a for f, (lo, hi), a in spans if f == path.name and lo < number < hi), None)
            if owner is None:
                found.add(where, "a checkov skip outside a resource or data block excuses nothing; put it in the block")
                continue
            skips.append({"file": path.name, "resource": owner, "check": match.group(1),
                          "reason": (match.group(2) or "").strip()})
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


def check(module: Module, found: Findings) -> None:
    for step in (check_instances, check_ingress, check_database, check_secrets, check_skips):
        step(module, found)
