# RDS for PostgreSQL 16: the same major version as the Compose stack (postgres:16.x). Private
# subnets, encrypted, 7 days of automated backups (point-in-time restore), deletion protection, a
# final snapshot on destroy, TLS forced, slow queries logged, pg_stat_statements loaded.
#
# Credentials: the master user's password is random (random_password.db, in the Terraform state:
# keep the state in the encrypted, access-restricted S3 backend of backend.tf.example). Terraform
# writes the master URL into the SSM parameter the application reads
# (/<project>/<environment>/database-url, the whole connection string) once, for the first
# deployment; then docs/runbooks/rotation.md moves the application to its own login roles
# (echodiary_a, echodiary_b: created by SQL, since this resource manages only the master user) and
# owns the parameter (secrets.tf ignores later changes of its value). Rotating is then zero-downtime
# and needs no restart: the runbook enables the idle role with a new password, puts its URL into SSM,
# forces External Secrets to sync, the kubelet updates the mounted Secret file and the service,
# which re-reads DATABASE_URL_FILE every few seconds, opens new connections with it; only then is
# the old role's login disabled. RDS holds a single master password and applies a new one at once,
# so rotating it under a running application could never be seamless; with the application off the
# master user, `terraform apply -replace=random_password.db` changes only the administrators'
# password. Not `manage_master_user_password`: the first URL needs the master password, which
# Terraform would then never see.
#
# Cost (single-AZ, on-demand, 730 h/month):
#   db.t4g.micro  USD 0.016/h = ~11.68/month (us-east-1), ~USD 0.019/h = ~13.87 (eu-central-1)
#   gp3 storage   USD 0.115/GB-month (us-east-1), ~0.133 (eu-central-1): 20 GB = ~2.30 / ~2.66
#   backups       free up to the allocated storage (7 days of a small database fit easily)
#   Multi-AZ      doubles instance and storage lines
#   Performance Insights with 7-day retention: free; enhanced monitoring: cents (CloudWatch Logs)
#   log exports   CloudWatch Logs USD 0.50/GB (us-east-1), 0.63 (eu-central-1): slow queries and
#                 connections only, well under 1 GB/month at this size

resource "aws_db_subnet_group" "main" {
  name        = "${local.name}-db"
  description = "Private subnets of ${local.name} for RDS"
  subnet_ids  = aws_subnet.private[*].id

  tags = { Name = "${local.name}-db" }
}

# name_prefix + create_before_destroy: a change that needs a new group (another family at a major
# upgrade) creates the new one before the instance switches over.
resource "aws_db_parameter_group" "postgres16" {
  name_prefix = "${local.name}-pg16-"
  family      = "postgres16"
  description = "echodiary: TLS only, slow queries and connections logged, no bind values in logs"

  # Every connection must use TLS (the application's URL says sslmode=require).
  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "immediate"
  }

  # Statements slower than 1 s are logged (the "queries over 1 s" alert's counterpart in the logs).
  parameter {
    name         = "log_min_duration_statement"
    value        = "1000"
    apply_method = "immediate"
  }

  # ... but never their bind parameters: those are diary text, emails and password hashes.
  parameter {
    name         = "log_parameter_max_length"
    value        = "0"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_parameter_max_length_on_error"
    value        = "0"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_connections"
    value        = "1"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_disconnections"
    value        = "1"
    apply_method = "immediate"
  }

  # Schema changes (migrations) are worth a line each; ordinary statements are not logged.
  parameter {
    name         = "log_statement"
    value        = "ddl"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_lock_waits"
    value        = "1"
    apply_method = "immediate"
  }

  # pg_stat_statements: postgres_exporter names the slowest statements from it
  # (postgres-exporter/queries.yaml, alert EchoDiarySlowStatement). A static parameter: it takes
  # effect at the next reboot (the instance applies changes in its maintenance window, or at once
  # with `aws rds reboot-db-instance`; docs/runbooks/database.md). RDS preloads this library by
  # default; naming it here keeps it when another library is added. The extension itself is
  # created in the database by a migration, or by the master user (docs/runbooks/database.md).
  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }

  # The service's statements as it sends them, not the ones inside functions (PostgreSQL's default).
  parameter {
    name         = "pg_stat_statements.track"
    value        = "top"
    apply_method = "immediate"
  }

  # Not DDL, COPY, SET or ALTER ROLE ... PASSWORD: PostgreSQL keeps such utility statements with
  # their constants (a password verifier, say), and they are not what the service runs.
  parameter {
    name         = "pg_stat_statements.track_utility"
    value        = "0"
    apply_method = "immediate"
  }

  tags = { Name = "${local.name}-pg16" }

  lifecycle {
    create_before_destroy = true
  }
}

# RDS would create these log groups itself, with no expiry. Created here first, with 30 days.
resource "aws_cloudwatch_log_group" "rds" {
  for_each = toset(["postgresql", "upgrade"])

  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with AWS-owned keys. A customer-managed KMS key (USD 1/month plus requests and a key policy to maintain) adds little here: bind parameters are never logged (log_parameter_max_length = 0), so these logs hold statement text, timings and connection metadata, not diary content.
  #checkov:skip=CKV_AWS_338:30 days is enough to investigate slow queries and connection problems; a year of retention would cost more than the logs are worth. Long-lived audit trails belong to CloudTrail, not to PostgreSQL logs.
  name              = "/aws/rds/instance/${local.name}/${each.key}"
  retention_in_days = 30

  tags = { Name = "${local.name}-rds-${each.key}" }
}

resource "random_id" "final_snapshot" {
  byte_length = 4
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is a variable (db_multi_az), off by default because it doubles the database cost. Trade-off: a zone failure means restoring from a snapshot or point in time (RTO about an hour, RPO about 5 minutes) instead of a 1-2 minute failover. Turn it on when the service's availability target needs it.
  #checkov:skip=CKV_AWS_354:Performance Insights data is encrypted with the AWS managed key aws/rds. A customer-managed key costs USD 1/month and a key policy to maintain, for metrics and normalized SQL digests without bind values.
  #checkov:skip=CKV2_AWS_30:log_statement = all would write every statement, and the diary text in them, to CloudWatch. Slow statements (log_min_duration_statement = 1000), DDL, lock waits and connections are logged instead; bind parameters never are.
  identifier = local.name

  engine         = "postgres"
  engine_version = "16"
  instance_class = var.db_instance_class

  db_name  = var.db_name
  username = var.db_username
  password = random_password.db.result
  port     = 5432

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.postgres16.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  multi_az = var.db_multi_az
  # Single-AZ: the zone of the k3s node, so queries do not pay cross-zone transfer (USD 0.01/GB
  # each way) or latency.
  availability_zone = var.db_multi_az ? null : local.azs[0]

  iam_database_authentication_enabled = true

  backup_retention_period  = var.db_backup_retention_days
  backup_window            = "02:00-02:30"
  maintenance_window       = "sun:03:00-sun:04:00"
  copy_tags_to_snapshot    = true
  delete_automated_backups = false
  deletion_protection      = true

  skip_final_snapshot       = false
  final_snapshot_identifier = "${local.name}-final-${random_id.final_snapshot.hex}"

  # Minor versions (16.x) are applied in the maintenance window; major upgrades are deliberate.
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.rds_monitoring.arn

  performance_insights_enabled          = var.db_performance_insights
  performance_insights_retention_period = var.db_performance_insights ? 7 : null

  tags = { Name = "${local.name}-postgres" }

  depends_on = [aws_cloudwatch_log_group.rds, aws_iam_role_policy_attachment.rds_monitoring]
}
