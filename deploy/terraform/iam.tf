# The k3s node's instance role: the only AWS identity in the cluster. External Secrets and the
# pg_dump backup job use it through IMDSv2. Least privilege:
#   - read this environment's parameters under /<project>/<environment>/ (nothing else in SSM);
#   - decrypt them with the SSM default key (aws/ssm), only when SSM asks on their behalf;
#   - put and get objects under <backup bucket>/<backup_prefix>/<environment>/ (no delete: expiry is
#     the bucket's lifecycle rule, so a compromised node cannot destroy the backups);
#   - Session Manager (AmazonSSMManagedInstanceCore) instead of SSH.
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

# Session Manager (shell and port forwarding) instead of SSH: no open port, no key to leak, every
# session in CloudTrail. AWS's managed policy is the documented minimum for the SSM agent.
resource "aws_iam_role_policy_attachment" "k3s_ssm_core" {
  role       = aws_iam_role.k3s.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "k3s" {
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

  # SecureStrings are encrypted with the AWS managed key aws/ssm. Decrypt is allowed only through
  # SSM in this region and only for this environment's parameters (SSM puts the parameter's ARN in
  # the encryption context).
  statement {
    sid       = "DecryptEnvironmentParametersViaSsm"
    actions   = ["kms:Decrypt"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account_id}:key/*"]

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
