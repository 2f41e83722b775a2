# What the deployment guide, the manifests in deploy/k8s and the operators need. No secret value is
# output: the secrets are read from SSM by External Secrets (or by a person with
# `aws ssm get-parameter --with-decryption`).

output "region" {
  description = "AWS region of the deployment (the ClusterSecretStore `aws-ssm` must name the same region)."
  value       = var.region
}

output "k3s_instance_id" {
  description = "EC2 instance id of the k3s node (target of SSM Session Manager)."
  value       = aws_instance.k3s.id
}

output "k3s_public_ip" {
  description = "Elastic IP of the k3s node: point the service's DNS A record here."
  value       = aws_eip.k3s.public_ip
}

output "k3s_public_dns" {
  description = "Public DNS name of the Elastic IP (for a CNAME, or for a first test before DNS exists)."
  value       = aws_eip.k3s.public_dns
}

output "k3s_instance_role_name" {
  description = "IAM role of the k3s node: the credentials External Secrets and the backup job use through IMDSv2."
  value       = aws_iam_role.k3s.name
}

output "k3s_instance_role_arn" {
  description = "ARN of the k3s node's IAM role."
  value       = aws_iam_role.k3s.arn
}

output "rds_endpoint" {
  description = "Host name of the RDS instance (private: resolvable and reachable from inside the VPC only)."
  value       = aws_db_instance.main.address
}

output "rds_port" {
  description = "Port of the RDS instance."
  value       = aws_db_instance.main.port
}

output "rds_identifier" {
  description = "RDS instance identifier (for snapshots, point-in-time restores and the console)."
  value       = aws_db_instance.main.identifier
}

output "ssm_parameter_prefix" {
  description = "SSM path holding this environment's secrets; the node role may read everything under it and nothing else."
  value       = local.ssm_prefix
}

output "ssm_parameter_database_url" {
  description = "Name of the SecureString with the full PostgreSQL connection string (sslmode=require): the ExternalSecret's remoteRef.key for DATABASE_URL."
  value       = aws_ssm_parameter.database_url.name
}

output "ssm_parameter_jwt_secret" {
  description = "Name of the SecureString with the token signing key: the ExternalSecret's remoteRef.key for the JWT secret."
  value       = aws_ssm_parameter.jwt_secret.name
}

output "ssm_parameter_smtp_url" {
  description = "Name of the SecureString with the mail server's URL (from smtp_url): the ExternalSecret's remoteRef.key for the SMTP URL."
  value       = aws_ssm_parameter.smtp_url.name
}

output "ssm_parameter_chat_webhook_url" {
  description = "Name of the SecureString the chat webhook URL is expected under (created here only when chat_webhook_url is set)."
  value       = local.ssm_chat_webhook_url_name
}

output "ssm_kms_key_alias" {
  description = "Alias of the KMS key that encrypts the SecureStrings: pass it as --key-id to every `aws ssm put-parameter` under the prefix (without it SSM uses aws/ssm, which every principal of the account may decrypt through SSM)."
  value       = aws_kms_alias.secrets.name
}

output "backup_bucket" {
  description = "Name of the S3 bucket for logical (pg_dump) backups."
  value       = aws_s3_bucket.backups.bucket
}

output "backup_s3_uri" {
  description = "Where the backup CronJob writes and the restore procedure reads: the only prefix the node role may use."
  value       = "s3://${aws_s3_bucket.backups.bucket}/${local.backup_key_prefix}/"
}

output "kubeconfig_hint" {
  description = "How to reach the cluster: through Session Manager, no SSH and no open API port needed."
  value       = <<-EOT
    # Shell on the node (AWS CLI + session-manager-plugin):
    aws ssm start-session --region ${var.region} --target ${aws_instance.k3s.id}
    #   sudo cat /etc/rancher/k3s/k3s.yaml        # the kubeconfig (server https://127.0.0.1:6443)
    #   sudo tail -f /var/log/echodiary-bootstrap.log
    # Kubernetes API on localhost:6443 through an SSM port forward, then use that kubeconfig:
    aws ssm start-session --region ${var.region} --target ${aws_instance.k3s.id} \
      --document-name AWS-StartPortForwardingSession \
      --parameters '{"portNumber":["6443"],"localPortNumber":["6443"]}'
    # Argo CD's initial admin password (change it, then delete the secret):
    kubectl -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d
  EOT
}
