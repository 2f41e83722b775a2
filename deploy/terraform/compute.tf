# The k3s node: one EC2 instance, bootstrapped by user data into a k3s server running Argo CD,
# Argo Rollouts and External Secrets, which then syncs everything else from deploy/ in git.
#
# The node is cattle: everything on it comes from git (Argo CD) or from SSM (External Secrets), and
# the data lives in RDS. Replacing it (`terraform apply -replace=aws_instance.k3s`) rebuilds the same
# cluster in ~10 minutes; the Elastic IP, and so DNS, stays.
#
# Cost (on-demand, 730 h/month):
#   t4g.medium  USD 0.0336/h = ~24.53/month (us-east-1), USD 0.0384/h = ~28.03 (eu-central-1)  [default]
#   t4g.small   USD 0.0168/h = ~12.26 (us-east-1), ~14.02 (eu-central-1): only without the monitoring stack
#   t3.small    USD 0.0208/h = ~15.18 (us-east-1), ~17.52 (eu-central-1); t3.medium ~30.37 / ~35.04
#   burstable types run "unlimited": sustained CPU above baseline adds USD 0.04 per vCPU-hour.
#   Detailed (1-minute) monitoring: 7 metrics x USD 0.30 = ~2.10/month.
#   A 1-year Savings Plan takes ~30-40% off the instance line.

# Ubuntu 24.04 LTS from Canonical's own account, for the node's architecture. Ubuntu's cloud images
# ship the SSM agent, which Session Manager needs.
data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${local.instance_arch}-server-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "architecture"
    values = [local.instance_arch == "arm64" ? "arm64" : "x86_64"]
  }
}

# The node's public address, allocated before the instance so that the user data can put it into
# the API server certificate (tls-san). Public IPv4: USD 0.005/h = ~3.65/month in every region.
resource "aws_eip" "k3s" {
  domain = "vpc"

  tags = { Name = "${local.name}-k3s" }
}

resource "aws_eip_association" "k3s" {
  instance_id   = aws_instance.k3s.id
  allocation_id = aws_eip.k3s.id
}

locals {
  k3s_config = templatefile("${path.module}/templates/k3s-config.yaml.tftpl", {
    public_ip = aws_eip.k3s.public_ip
  })
  external_secrets_manifest = templatefile("${path.module}/templates/external-secrets.yaml.tftpl", {
    external_secrets_chart_version = var.external_secrets_chart_version
  })
  bootstrap_application = templatefile("${path.module}/templates/bootstrap-application.yaml.tftpl", {
    git_repo_url = var.git_repo_url
    git_revision = var.git_revision
  })
}

resource "aws_instance" "k3s" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.k3s.id]
  iam_instance_profile   = aws_iam_instance_profile.k3s.name

  # The Elastic IP is the only public address (associated right after launch; the user data waits
  # for it). No key pair: there is no SSH, only Session Manager.
  associate_public_ip_address = false
  monitoring                  = true
  ebs_optimized               = true

  # IMDSv2 only. Hop limit 2, not 1: containers sit one network hop behind the host, and External
  # Secrets (and the pg_dump backup job) get their AWS credentials from the instance role through
  # IMDS. The price is that any pod can reach IMDS: the application namespaces' NetworkPolicies
  # must deny egress to 169.254.169.254/32.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "disabled"
  }

  # gp3, encrypted with the account's default EBS key (aws/ebs). USD 0.08/GB-month (us-east-1),
  # USD 0.0952 (eu-central-1): 30 GB = ~2.40 / ~2.86 per month. gp3's baseline 3000 IOPS and
  # 125 MB/s are free.
  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    delete_on_termination = true

    tags = { Name = "${local.name}-k3s-root" }
  }

  # Pinned versions only; no secret ever goes in here (user data is readable by anyone allowed
  # ec2:DescribeInstanceAttribute). tools/checks/terraform.py renders this template and
  # shellchecks it.
  user_data = templatefile("${path.module}/templates/k3s-user-data.sh.tftpl", {
    k3s_version                    = var.k3s_version
    argocd_version                 = var.argocd_version
    argo_rollouts_version          = var.argo_rollouts_version
    external_secrets_chart_version = var.external_secrets_chart_version
    git_repo_url                   = var.git_repo_url
    git_revision                   = var.git_revision
    region                         = var.region
    # The manifests and the k3s configuration are YAML templates of their own, handed over in
    # base64 so that no shell quoting can touch them.
    k3s_config                = base64encode(local.k3s_config)
    external_secrets_manifest = base64encode(local.external_secrets_manifest)
    bootstrap_application     = base64encode(local.bootstrap_application)
  })

  tags = { Name = "${local.name}-k3s" }

  lifecycle {
    # User data runs once, at first boot: a changed template or a newer AMI only takes effect on a
    # new instance, so Terraform does not stop the running one for them. Roll them out with
    # `terraform apply -replace=aws_instance.k3s`.
    ignore_changes = [ami, user_data]
  }
}
