# The k3s node's instance role: the only AWS identity in the cluster. External Secrets and the
# pg_dump backup job use it through IMDSv2. Least privilege, and nothing from AWS managed policies
# (AmazonSSMManagedInstanceCore would add ssm:GetParameter/GetParameters on every parameter of the
# account; tools/checks/terraform.py fails if it or a policy like it comes back):
#   - read this environment's parameters under /<project>/<environment>/ (nothing else in SSM);
#   - decrypt them with the secrets key (secrets.tf), only when SSM asks on their behalf; that key's
#     policy lets only this role and the identities that run Terraform use it, so no other principal
#     of the account can read the secrets, whatever its IAM policies say;
#   - put and get objects under <backup bucket>/<backup_prefix>/<environment>/ (no delete: expiry is
#     the bucket's lifecycle rule, so a compromised node cannot destroy the backups);
#   - Session Manager instead of SSH: exactly the agent actions AWS documents as the minimum for it.
# IAM is free.

# Only EC2 may assume the role, for instances launched with its instance profile (launching one needs
# iam:PassRole on the role, in this account). No aws:SourceAccount condition: EC2 does not document
# that key for instance-profile credentials, and a role cannot be passed across accounts anyway.
data "aws_iam_policy_document" "ec2_assume" {
  statement {
    sid     = "Ec2AssumesNodeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "k3s" {
  name               = "${local.name}-k3s-node"
  description        = "k3s node: External Secrets (SSM read), pg_dump backups (S3), Session Manager"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json

  tags = { Name = "${local.name}-k3s-node" }
}

resource "aws_iam_instance_profile" "k3s" {
  name = "${local.name}-k3s-node"
  role = aws_iam_role.k3s.name

  tags = { Name = "${local.name}-k3s-node" }
}

data "aws_iam_policy_document" "k3s" {
  # Session Manager (shell and port forwarding) instead of SSH: no open port, no key to leak, every
  # session in CloudTrail. The minimal policy of AWS's "Create a custom IAM role for Session Manager"
  # (Systems Manager User Guide): the agent's heartbeat (UpdateInstanceInformation, which registers
  # the node as managed) and the session channels (ssmmessages). No ec2messages (Run Command, which
  # nothing here uses), no ssm:GetParameter* on "*", no S3 or KMS for session logs (not configured).
  # ssmmessages has no resource types, so "*"; UpdateInstanceInformation is scoped to instances of
  # this account and region (the role's credentials exist only on this node anyway).
  statement {
    sid = "SessionManagerChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "SessionManagerHeartbeat"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"]
  }

  # External Secrets: GetParameter for single keys, GetParameters for batches, GetParametersByPath
  # for `find`/path lookups (its resource is the path itself, hence the second ARN).
  statement {
    sid = "ReadEnvironmentParameters"
    actions = [
      "ssm:GetParameter",
      "ssm:GetParameters",
      "ssm:GetParametersByPath",
    ]
    resources = [
      "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.ssm_prefix}",
      "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.ssm_prefix}/*",
    ]
  }

  # SecureStrings are encrypted with the secrets key (secrets.tf). Decrypt is allowed for that key
  # only, only through SSM in this region and only for this environment's parameters (SSM puts the
  # parameter's ARN in the encryption context). The key policy grants the same to this role by name,
  # which alone would suffice; this statement keeps the role's policy a complete account of it.
  statement {
    sid       = "DecryptEnvironmentParametersViaSsm"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.secrets.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.ssm_prefix}/*"]
    }
  }

  # Backups: list only the backup prefix (to find the newest dump for a restore) ...
  statement {
    sid       = "ListBackupPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.backups.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.backup_key_prefix}/", "${local.backup_key_prefix}/*"]
    }
  }

  # ... and write and read objects under it. PutObject covers multipart uploads; AbortMultipartUpload
  # lets a failed upload clean up after itself. No DeleteObject.
  statement {
    sid = "ReadWriteBackupObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.backups.arn}/${local.backup_key_prefix}/*"]
  }

  # The bucket is encrypted with the AWS managed key aws/s3; S3 calls KMS on the node's behalf.
  statement {
    sid       = "UseS3KeyViaS3ForBackups"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]
    }
  }
}

resource "aws_iam_role_policy" "k3s" {
  name   = "${local.name}-k3s-node"
  role   = aws_iam_role.k3s.id
  policy = data.aws_iam_policy_document.k3s.json
}

# RDS enhanced monitoring (OS metrics every 60 s) needs a role RDS can assume; RDS documents the
# aws:SourceAccount condition against the confused-deputy problem. Billed as CloudWatch Logs
# ingestion: a few cents a month at 60 s.
data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    sid     = "RdsMonitoringAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${local.name}-rds-monitoring"
  description        = "Lets RDS publish enhanced monitoring metrics for ${local.name}"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json

  tags = { Name = "${local.name}-rds-monitoring" }
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
