# The application's secrets, generated here (or, for the mail server, given in TF_VAR_smtp_url) and
# stored as SecureStrings in SSM Parameter Store, where External Secrets (ClusterSecretStore
# `aws-ssm`, instance role) reads them into Kubernetes Secrets. Nothing secret is in git, in the user
# data or in the outputs; the values are in the Terraform state, so the state backend must be
# encrypted and access-restricted.
#
# Cost: standard-tier parameters are free; the AWS managed key aws/ssm has no monthly fee, and
# External Secrets' hourly refreshes stay far inside KMS's 20,000 free requests a month.
#
# Rotation: `terraform apply -replace=random_password.jwt` (every signed-in user must log in
# again) or `-replace=random_password.db` (RDS and the URL change in one apply); new SMTP
# credentials: a new TF_VAR_smtp_url and `terraform apply`.

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

resource "aws_ssm_parameter" "database_url" {
  #checkov:skip=CKV_AWS_337:Encrypted with the AWS managed key aws/ssm on purpose: the node role's kms:Decrypt is scoped to it through kms:ViaService and the parameter-ARN encryption context. A customer-managed key would cost USD 1/month plus a key policy to keep in step with the role, without narrowing access further.
  name        = local.ssm_database_url_name
  description = "PostgreSQL connection string of ${local.name} (RDS, TLS required); read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  value       = "postgres://${var.db_username}:${random_password.db.result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${var.db_name}?sslmode=require"

  tags = { Name = "${local.name}-database-url" }
}

resource "aws_ssm_parameter" "jwt_secret" {
  #checkov:skip=CKV_AWS_337:Encrypted with the AWS managed key aws/ssm on purpose: the node role's kms:Decrypt is scoped to it through kms:ViaService and the parameter-ARN encryption context. A customer-managed key would cost USD 1/month plus a key policy to keep in step with the role, without narrowing access further.
  name        = local.ssm_jwt_secret_name
  description = "HMAC key that signs ${local.name} access tokens; read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  value       = random_password.jwt.result

  tags = { Name = "${local.name}-jwt-secret" }
}

# The mail server, credentials included (var.smtp_url, required): the API reads it as the file
# smtp-url of Secret echodiary-secrets (ECHODIARY__EMAIL__SMTP_URL_FILE).
resource "aws_ssm_parameter" "smtp_url" {
  #checkov:skip=CKV_AWS_337:Encrypted with the AWS managed key aws/ssm on purpose: the node role's kms:Decrypt is scoped to it through kms:ViaService and the parameter-ARN encryption context. A customer-managed key would cost USD 1/month plus a key policy to keep in step with the role, without narrowing access further.
  name        = local.ssm_smtp_url_name
  description = "SMTP URL (with credentials) ${local.name} sends password-reset emails through; read by External Secrets"
  type        = "SecureString"
  tier        = "Standard"
  value       = var.smtp_url

  tags = { Name = "${local.name}-smtp-url" }
}

# Only when chat_webhook_url is given; otherwise create it by hand (aws ssm put-parameter --type
# SecureString) so the URL never passes through the state.
resource "aws_ssm_parameter" "chat_webhook_url" {
  # Whether a URL was given is not secret; the URL is (count may not depend on sensitive values).
  count = nonsensitive(var.chat_webhook_url != "") ? 1 : 0

  #checkov:skip=CKV_AWS_337:Encrypted with the AWS managed key aws/ssm on purpose: the node role's kms:Decrypt is scoped to it through kms:ViaService and the parameter-ARN encryption context. A customer-managed key would cost USD 1/month plus a key policy to keep in step with the role, without narrowing access further.
  name        = local.ssm_chat_webhook_url_name
  description = "Chat webhook (Slack, or Discord + /slack) for Alertmanager and Argo CD notifications"
  type        = "SecureString"
  tier        = "Standard"
  value       = var.chat_webhook_url

  tags = { Name = "${local.name}-chat-webhook-url" }
}
