# Logical backups: a scheduled pg_dump (the CronJob echodiary-backup, with the node role) writes to
# s3://<bucket>/<backup_prefix>/<environment>/YYYY/MM/DD/. They complement RDS's own snapshots:
# they survive the deletion of the RDS instance and its automated backups, restore into any
# PostgreSQL 16 (another account, another region, a laptop), and are kept longer
# (pg_dump_retention_days, default 35).
#
# Cost: S3 Standard USD 0.023/GB-month (us-east-1), 0.0245 (eu-central-1). A daily compressed dump
# of a small diary database (say 100 MB) kept 35 days is ~3.5 GB = ~USD 0.08/month; PUT requests
# (USD 0.005 per 1,000) are negligible. SSE-KMS with the AWS managed key and an S3 bucket key: no
# key fee, and the bucket key keeps KMS requests to a handful.

resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second bucket and its own lifecycle for a bucket written by one role once a day. Access is auditable through CloudTrail instead (management events are free; enable S3 data events for the bucket if a per-object audit trail becomes necessary).
  #checkov:skip=CKV_AWS_144:No cross-region replication: it would double storage and add transfer cost for a small single-region service. The dumps are a second copy beside RDS's own snapshots; copy them to another region or account when the recovery plan must survive the loss of a whole region.
  #checkov:skip=CKV2_AWS_62:No event notifications: nothing consumes them. A missed or failed backup is detected in Prometheus by the alert EchoDiaryBackupStale (last successful backup older than 26 hours, or a failed backup Job), not by S3 events.
  bucket = "${local.name}-backups-${local.account_id}-${var.region}"

  # Backups must not disappear with a `terraform destroy`: empty the bucket by hand first.
  force_destroy = false

  tags = { Name = "${local.name}-backups" }
}

resource "aws_s3_bucket_ownership_controls" "backups" {
  bucket = aws_s3_bucket.backups.id

  # ACLs off: access is decided by IAM and the bucket policy alone.
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket = aws_s3_bucket.backups.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioning: an overwritten or deleted dump can be recovered until its noncurrent version expires.
resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms" # AWS managed key aws/s3
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    id     = "expire-pg-dumps"
    status = "Enabled"

    filter {
      prefix = "${var.backup_prefix}/"
    }

    # Long retention only: Standard-IA bills at least 30 days, so a move at day 30 pays off only
    # when objects live well beyond that.
    dynamic "transition" {
      for_each = var.pg_dump_retention_days > 90 ? [1] : []
      content {
        days          = 30
        storage_class = "STANDARD_IA"
      }
    }

    expiration {
      days = var.pg_dump_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Anything written outside the prefix (by hand) is not kept forever either, and delete markers
  # left alone once their object's versions have expired are removed.
  rule {
    id     = "housekeeping"
    status = "Enabled"

    filter {}

    expiration {
      expired_object_delete_marker = true
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.backups]
}

# TLS only, and only KMS-encrypted uploads.
data "aws_iam_policy_document" "backups_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyNonKmsUploads"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    # Uploads that name an encryption must name KMS; uploads that name none get the bucket default.
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }
}

resource "aws_s3_bucket_policy" "backups" {
  bucket = aws_s3_bucket.backups.id
  policy = data.aws_iam_policy_document.backups_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.backups]
}
