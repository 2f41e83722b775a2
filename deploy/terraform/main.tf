# Names and facts shared by every file of the root module.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The two zones, named explicitly (an allowlist: the set cannot grow when AWS adds a zone) and
# checked to exist and be available in this account.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for suffix in var.availability_zone_suffixes : "${var.region}${suffix}"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(var.availability_zone_suffixes)
      error_message = "Not every zone in availability_zone_suffixes is available in this region for this account; pick other suffixes."
    }
  }
}

locals {
  # `echodiary-prod`: the prefix of every resource name.
  name = "${var.project}-${var.environment}"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Two zones: RDS subnet groups need two, and two is all this single-node layout uses. The node
  # and a single-AZ database share the first.
  azs = sort(data.aws_availability_zones.selected.names)

  # Where the application's secrets live in SSM Parameter Store. The External Secrets manifests in
  # deploy/k8s read exactly these names (ClusterSecretStore `aws-ssm`, instance role credentials).
  ssm_prefix                = "/${var.project}/${var.environment}"
  ssm_database_url_name     = "${local.ssm_prefix}/database-url"
  ssm_jwt_secret_name       = "${local.ssm_prefix}/jwt-secret"
  ssm_smtp_url_name         = "${local.ssm_prefix}/smtp-url"
  ssm_chat_webhook_url_name = "${local.ssm_prefix}/chat-webhook-url"

  # The only part of the backup bucket the node may touch: s3://<bucket>/echodiary/prod/.
  backup_key_prefix = "${var.backup_prefix}/${var.environment}"

  # Graviton (arm64) instance families end in `g` (t4g, m7g, ...); the AMI must match.
  instance_arch = can(regex("^[a-z][0-9]+g\\.", var.instance_type)) ? "arm64" : "amd64"
}
