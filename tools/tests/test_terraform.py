"""Each Terraform check fails on a copy of deploy/terraform with one planted fault; the untouched
module passes them all."""

import pytest

from checks import checkov_scan, terraform
from checks.findings import Findings
from conftest import fails_on

SG_SSH = """
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  description       = "SSH"
  security_group_id = aws_security_group.k3s.id
  protocol          = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_blocks       = ["0.0.0.0/0"]
}
"""
SSM_CORE = """
resource "aws_iam_role_policy_attachment" "k3s_ssm_core" {
  role       = aws_iam_role.k3s.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}
"""
GATEWAY = 'resource "aws_internet_gateway" "main" {\n'
REASON = "the database must be reachable from a developer laptop for debugging sessions"


MODULE = "deploy/terraform"


def conventions(repo):
    return terraform.check(repo.root / MODULE)


def checkov(repo):
    skips = terraform.inline_skips(terraform.load(repo.root / MODULE), Findings("skips"))
    return checkov_scan.audit(checkov_scan.run(repo.root / MODULE, "terraform"), skips, "checkov")


def test_the_module_as_committed_passes_every_check(plant):
    module = plant("deploy/terraform")
    assert not conventions(module).problems
    assert not checkov(module).problems


FAULTS = {
    "a block that never closes": (lambda m: m.replace(f"{MODULE}/network.tf", GATEWAY, GATEWAY + "  vpc_id = (\n"), 'does not parse'),
    "a reference to an undeclared resource": (lambda m: m.replace(f"{MODULE}/compute.tf", "aws_subnet.public[0].id", "aws_subnet.pubic[0].id"), 'aws_subnet.pubic is used but not declared'),
    "an undeclared variable": (lambda m: m.replace(f"{MODULE}/compute.tf", "var.instance_type", "var.instance_size"), 'var.instance_size is used but not declared'),
    "a variable without a description": (lambda m: m.sub(f"{MODULE}/variables.tf", r'  description = "AWS region to deploy into[^\n]*\n', ""), 'var.region: description must be at least 10 characters'),
    "a variable without validation": (lambda m: m.replace(f"{MODULE}/variables.tf", "validation {\n    condition     = contains", "dynamic_check {\n    condition     = contains"), 'variable environment (type ${string}) has no validation block'),
    "a default tag missing": (lambda m: m.sub(f"{MODULE}/versions.tf", r"\n\s*ManagedBy\s*=[^\n]*", ""), 'default_tags lack ManagedBy'),
    "a template name not passed": (lambda m: m.sub(f"{MODULE}/compute.tf", r"\n\s*region\s*=\s*var\.region\n", "\n"), 'uses ${region}'),
    "a shell bug in the user data": (lambda m: m.replace(f"{MODULE}/templates/k3s-user-data.sh.tftpl", '-o "$dest" "$url"', "-o $dest $url"), 'shellcheck found problems'),
    "a metadata hop limit pods cannot reach": (lambda m: m.replace(f"{MODULE}/compute.tf", "http_put_response_hop_limit = 2", "http_put_response_hop_limit = 1"), 'http_put_response_hop_limit must be 2'),
    "a key pair on the node": (lambda m: m.replace(f"{MODULE}/compute.tf", 'resource "aws_instance" "k3s" {\n', 'resource "aws_instance" "k3s" {\n  key_name = "admin"\n'), 'aws_instance.k3s: key_name must be null'),
    "PostgreSQL 15": (lambda m: m.replace(f"{MODULE}/database.tf", 'engine_version = "16"', 'engine_version = "15"'), 'engine_version must be PostgreSQL 16'),
    "SSH open to the internet": (lambda m: m.append(f"{MODULE}/security.tf", SG_SSH), 'ingress covering SSH'),
    "the managed SSM policy on the node": (lambda m: m.append(f"{MODULE}/iam.tf", SSM_CORE), 'AmazonSSMManagedInstanceCore is attached'),
    "a skip without a reason": (lambda m: m.sub(f"{MODULE}/network.tf", r"#checkov:skip=CKV2_AWS_11:.*", "#checkov:skip=CKV2_AWS_11"), 'skip of CKV2_AWS_11 without a real justification'),
    "a lazy skip": (lambda m: m.sub(f"{MODULE}/network.tf", r"#checkov:skip=CKV2_AWS_11:.*", "#checkov:skip=CKV2_AWS_11:not needed"), "skip of CKV2_AWS_11 without a real justification ('not needed')"),
    "a regression behind a skip": (lambda m: m.sub(f"{MODULE}/database.tf", r"\n(\s*)publicly_accessible(\s*)= false", rf"\n\1#checkov:skip=CKV_AWS_17:{REASON}\n\1publicly_accessible\2= true"), 'CKV_AWS_17 (public RDS) must never be skipped'),
    "a skip of a never-skip check": (lambda m: m.sub(f"{MODULE}/compute.tf", r"\n(\s*)monitoring(\s*)= true", rf"\n\1#checkov:skip=CKV_AWS_79:{REASON}\n\1monitoring\2= true"), 'CKV_AWS_79 (IMDSv1 enabled) must never be skipped'),
    "a skip in a configuration file": (lambda m: m.append(f"{MODULE}/.checkov.yaml", "skip-check:\n  - CKV_AWS_17\n"), 'checkov configuration file'),
    "a skip outside any block": (lambda m: m.append(f"{MODULE}/network.tf", f"\n#checkov:skip=CKV_AWS_17:{REASON}\n"), 'a checkov skip outside a resource or data block'),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_conventions_check_fails_on(plant, fault):
    fails_on(plant(MODULE), FAULTS[fault], lambda module: conventions(module).problems)


CHECKOV_FAULTS = {
    "IMDSv1": (lambda m: m.sub(f"{MODULE}/compute.tf", r'http_tokens(\s*)= "required"', r'http_tokens\1= "optional"'), 'CKV_AWS_79'),
    "a public database": (lambda m: m.sub(f"{MODULE}/database.tf", r"publicly_accessible(\s*)= false", r"publicly_accessible\1= true"), 'CKV_AWS_17'),
    "an unencrypted database": (lambda m: m.sub(f"{MODULE}/database.tf", r"storage_encrypted(\s*)= true", r"storage_encrypted\1= false"), 'CKV_AWS_16'),
    "SSH open to the internet": (FAULTS["SSH open to the internet"][0], 'CKV_AWS_24'),
    "a public bucket": (lambda m: m.sub(f"{MODULE}/backup.tf", r"restrict_public_buckets(\s*)= true", r"restrict_public_buckets\1= false"), 'CKV_AWS_56'),
    "a SecureString under the aws/ssm key": (lambda m: m.sub(f"{MODULE}/secrets.tf", r"\n\s*key_id\s*= aws_kms_key\.secrets\.arn\n", "\n"), 'CKV_AWS_337'),
    "a stale skip": (lambda m: m.replace(f"{MODULE}/network.tf", GATEWAY, GATEWAY + f"  #checkov:skip=CKV_AWS_144:{REASON}\n"), 'skip of CKV_AWS_144 is stale'),
}


@pytest.mark.parametrize("fault", CHECKOV_FAULTS)
def test_checkov_fails_on(plant, fault):
    fails_on(plant(MODULE), CHECKOV_FAULTS[fault], lambda module: checkov(module).problems)
