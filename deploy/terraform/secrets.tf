# The application's secrets, generated here (or, for the mail server, given in TF_VAR_smtp_url) and
# stored as SecureStrings in SSM Parameter Store, where External Secrets (ClusterSecretStore
# `aws-ssm`, instance role) reads them into Kubernetes Secrets. Nothing secret is in git, in the user
# data or in the outputs; the values are in the Terraform state, so the state backend must be
# encrypted and access-restricted.
#
# Encrypted with a customer-managed KMS key, not the AWS managed aws/ssm: aws/ssm's key policy lets
# every principal of the account decrypt through SSM, so anyone allowed ssm:GetParameter on these
# names (an AmazonSSMManagedInstanceCore somewhere, a broad admin policy) could read them. This key's
# policy names its users: the node role (decrypt only) and the identities that run Terraform
# (encrypt and decrypt, to write and refresh the parameters); the account root only administers it.
#
# Cost: standard-tier parameters are free; the key is USD 1/month (rotation included), and External
# Secrets' hourly refreshes stay far inside KMS's 20,000 free requests a month.
#
# Rotation: the token key with `terraform apply -replace=random_password.jwt` (every signed-in user
# must log in again); new SMTP credentials with a new TF_VAR_smtp_url and `terraform apply`; the
# database credentials without Terraform and without downtime: docs/runbooks/rotation.md.

# Who may write and read the SecureStrings besides the node: the identity running this apply (for an
# assumed role, the role itself, not its session) and secret_operator_arns.
data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  secret_operator_arns = distinct(concat([data.aws_iam_session_context.current.issuer_arn], var.secret_operator_arns))

  # SSM names the parameter in the encryption context of every KMS call it makes for it.
  ssm_parameter_arn_pattern = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.ssm_prefix}/*"
}

resource "aws_kms_key" "secrets" {
  description             = "${local.name}: SSM SecureStrings under ${local.ssm_prefix}/ (readers: the k3s node role and the Terraform operators)"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  # A deleted key makes every parameter encrypted with it unreadable: the longest waiting period.
  deletion_window_in_days = 30

  # jsonencode, not aws_iam_policy_document: a key policy's Resource is always "*" (this key), which
  # IAM-policy checks would read as "every resource".
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      # Administration only, no use: KMS requires a statement that keeps the key manageable (or
      # it refuses the policy), and the account root is the documented principal for it. It lets IAM
      # policies of this account grant these actions (Terraform needs them), but no Decrypt.
      {
        Sid       = "AccountAdministersKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
          "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
          "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
          "kms:RotateKeyOnDemand",
        ]
        Resource = "*"
      },
      # The people and CI roles that run Terraform and the runbooks: put-parameter encrypts,
      # get-parameter --with-decryption (and Terraform's refresh) decrypts. Standard-tier
      # parameters use Encrypt and Decrypt directly, no data keys. Only through SSM, only for this
      # environment's parameters.
      {
        Sid       = "OperatorsUseKeyViaSsm"
        Effect    = "Allow"
        Principal = { AWS = local.secret_operator_arns }
        Action    = ["kms:Encrypt", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:ViaService" = "ssm.${var.region}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:PARAMETER_ARN" = local.ssm_parameter_arn_pattern }
        }
      },
      # The node (External Secrets): decrypt only, same conditions.
      {
        Sid       = "NodeRoleDecryptsViaSsm"
        Effect    = "Allow"
        Principal = { AWS = aws_iam_role.k3s.arn }
        Action    = "kms:Decrypt"
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:ViaService" = "ssm.${var.region}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:PARAMETER_ARN" = local.ssm_parameter_arn_pattern }
        }
      },
    ]
  })

  tags = { Name = "${local.name}-secrets" }
}

# The name the runbooks use: `aws ssm put-parameter ... --key-id alias/echodiary-prod-secrets`.
resource "aws_kms_alias" "secrets" {
  name          = "alias/${local.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

# Alphanumeric only: it goes into a URL unescaped, and RDS refuses / @ " and spaces. 40 characters
# of [A-Za-z0-9] are ~238 bits.
resource "random_password" "db" {
  length  = 40
  special = false
}

# The token signing key: the service refuses anything under 32 bytes in production.
resource "random_password" "jwt" {
  length  = 64
  special = false
}

# The first value is the master user's URL, so that the very first deployment (and its migration) can
# run. After that the parameter belongs to docs/runbooks/rotation.md: the application moves to its own
# login roles (echodiary_a / echodiary_b, created by SQL: the RDS resource manages only the master
# user) and their passwords are rotated there, never through Terraform, so Terraform must not write
# the value back. `terraform apply -replace=aws_ssm_parameter.database_url` puts the master URL in
# again (a new, empty instance; break-glass).
resource "aws_ssm_parameter" "database_url" {
  name        = local.ssm_database_url_name
  description = "PostgreSQL connection string of ${local.name} (RDS, TLS required); read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  key_id      = aws_kms_key.secrets.arn
  value       = "postgres://${var.db_username}:${random_password.db.result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${var.db_name}?sslmode=require"

  tags = { Name = "${local.name}-database-url" }

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "jwt_secret" {
  name        = local.ssm_jwt_secret_name
  description = "HMAC key that signs ${local.name} access tokens; read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  key_id      = aws_kms_key.secrets.arn
  value       = random_password.jwt.result

  tags = { Name = "${local.name}-jwt-secret" }
}

# The mail server, credentials included (var.smtp_url, required): the API reads it as the file
# smtp-url of Secret echodiary-secrets (ECHODIARY__EMAIL__SMTP_URL_FILE).
resource "aws_ssm_parameter" "smtp_url" {
  name        = local.ssm_smtp_url_name
  description = "SMTP URL (with credentials) ${local.name} sends password-reset emails through; read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  key_id      = aws_kms_key.secrets.arn
  value       = var.smtp_url

  tags = { Name = "${local.name}-smtp-url" }
}

# Only when chat_webhook_url is given; otherwise create it by hand (aws ssm put-parameter --type
# SecureString --key-id alias/<project>-<environment>-secrets) so the URL never passes through the
# state.
resource "aws_ssm_parameter" "chat_webhook_url" {
  # Whether a URL was given is not secret; the URL is (count may not depend on sensitive values).
  count = nonsensitive(var.chat_webhook_url != "") ? 1 : 0

  name        = local.ssm_chat_webhook_url_name
  description = "Chat webhook (Slack, or Discord + /slack) for Alertmanager and Argo CD notifications"
  type        = "SecureString"
  tier        = "Standard"
  key_id      = aws_kms_key.secrets.arn
  value       = var.chat_webhook_url

  tags = { Name = "${local.name}-chat-webhook-url" }
}
