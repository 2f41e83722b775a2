# Security groups. Free. Rules are separate resources (one per rule, each with a description), so
# adding one never rewrites the others.
#
#   internet ──80/443──▶ k3s node (Traefik, k3s' bundled ingress, on host ports via ServiceLB;
#                                  443 also answers Let's Encrypt's TLS-ALPN-01 challenge, 80 only
#                                  redirects to HTTPS)
#   admin CIDRs ─6443──▶ k3s node (only if admin_cidrs is set; otherwise SSM port forwarding)
#   k3s node ───5432──▶ RDS       (nothing else can reach the database)
#   k3s node ──465/587─▶ internet  (SMTP over TLS / STARTTLS: password-reset emails)
#   no SSH anywhere: shell access is SSM Session Manager, audited in CloudTrail.
#
# Traffic to the VPC resolver, the instance metadata service and the Amazon Time Sync Service is not
# filtered by security groups, so DNS, IMDS and NTP need no egress rule.

resource "aws_security_group" "k3s" {
  # name_prefix: with create_before_destroy, a replacement group needs a name of its own.
  name_prefix = "${local.name}-k3s-node-"
  description = "k3s node: HTTP(S) from the internet, Kubernetes API from admin CIDRs only, no SSH"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-k3s-node" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "k3s_http" {
  #checkov:skip=CKV_AWS_260:Port 80 is open to the world on purpose: Traefik answers every plain-HTTP request with a permanent redirect to HTTPS, so clients and links using http:// still arrive. No application data is served over plain HTTP. Let's Encrypt does not need it: the resolver uses the TLS-ALPN-01 challenge on 443 (deploy/k8s/platform/traefik-config.yaml).
  security_group_id = aws_security_group.k3s.id
  description       = "HTTP from anywhere: redirect to HTTPS only (Traefik)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-http" }
}

resource "aws_vpc_security_group_ingress_rule" "k3s_https" {
  security_group_id = aws_security_group.k3s.id
  description       = "HTTPS from anywhere: the public API through Traefik, and ACME TLS-ALPN-01"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-https" }
}

resource "aws_vpc_security_group_ingress_rule" "k3s_api" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.k3s.id
  description       = "Kubernetes API from an admin network"
  ip_protocol       = "tcp"
  from_port         = 6443
  to_port           = 6443
  cidr_ipv4         = each.value

  tags = { Name = "${local.name}-k3s-api" }
}

# Egress is limited to what the node needs: HTTPS (container registries, GitHub for Argo CD, AWS APIs
# for SSM, S3 and Session Manager, chat webhooks), HTTP (Ubuntu's package mirrors serve apt over
# HTTP with signed indexes) and PostgreSQL to the database's security group only.
resource "aws_vpc_security_group_egress_rule" "k3s_https" {
  security_group_id = aws_security_group.k3s.id
  description       = "HTTPS out: registries, GitHub, AWS APIs, webhooks"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-https-out" }
}

resource "aws_vpc_security_group_egress_rule" "k3s_http" {
  security_group_id = aws_security_group.k3s.id
  description       = "HTTP out: Ubuntu package mirrors (signed indexes)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-http-out" }
}

# Password-reset emails: the mail server (Amazon SES's SMTP endpoint or another provider's) has no
# fixed address. Port 465 (TLS) and 587 (STARTTLS), not 25, which EC2 throttles. The API pods'
# NetworkPolicy allows the same two ports (deploy/k8s/base/networkpolicies.yaml).
resource "aws_vpc_security_group_egress_rule" "k3s_smtps" {
  security_group_id = aws_security_group.k3s.id
  description       = "SMTP over TLS out: the mail server for password-reset emails"
  ip_protocol       = "tcp"
  from_port         = 465
  to_port           = 465
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-smtps-out" }
}

resource "aws_vpc_security_group_egress_rule" "k3s_smtp_submission" {
  security_group_id = aws_security_group.k3s.id
  description       = "SMTP submission (STARTTLS) out: the mail server for password-reset emails"
  ip_protocol       = "tcp"
  from_port         = 587
  to_port           = 587
  cidr_ipv4         = "0.0.0.0/0"

  tags = { Name = "${local.name}-k3s-smtp-submission-out" }
}

resource "aws_vpc_security_group_egress_rule" "k3s_postgres" {
  security_group_id            = aws_security_group.k3s.id
  description                  = "PostgreSQL to the RDS security group only"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id

  tags = { Name = "${local.name}-k3s-postgres-out" }
}

# The database: reachable on 5432 from the k3s node's group and from nothing else. No egress rules
# (Terraform removes AWS's default allow-all egress): RDS answers connections, it opens none.
resource "aws_security_group" "db" {
  name_prefix = "${local.name}-db-"
  description = "RDS PostgreSQL: 5432 from the k3s node security group only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${local.name}-db" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_k3s" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the k3s node security group"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.k3s.id

  tags = { Name = "${local.name}-db-from-k3s" }
}
