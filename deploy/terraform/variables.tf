# Inputs. Every variable has a description and a type, and every one that is not a plain bool has a
# validation block (tools/checks/terraform.py enforces all three). Validations refer only to their
# own variable: each input is checked on its own.

# ------------------------------------------------------------------------------------ identity

variable "project" {
  description = "Project name: the first part of every resource name and of the SSM parameter paths (/<project>/<environment>/...)."
  type        = string
  default     = "echodiary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 characters of lowercase letters, digits and hyphens, starting with a letter (it ends up in S3 bucket and RDS names)."
  }
}

variable "environment" {
  description = "Environment name: prod, staging or dev. The External Secrets manifests read /<project>/<environment>/database-url, .../jwt-secret and .../smtp-url."
  type        = string
  default     = "prod"

  validation {
    condition     = contains(["prod", "staging", "dev"], var.environment)
    error_message = "environment must be one of prod, staging, dev."
  }
}

variable "region" {
  description = "AWS region to deploy into, e.g. eu-central-1 or us-east-1."
  type        = string
  default     = "eu-central-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$", var.region))
    error_message = "region must look like an AWS region code, e.g. eu-central-1, us-east-1, ap-southeast-2."
  }
}

# ------------------------------------------------------------------------------------- network

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /22. Public subnets take the first two /(prefix+4) blocks, private subnets blocks 8 and 9."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition = (
      can(cidrnetmask(var.vpc_cidr)) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 22, false) &&
      try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false)
    )
    error_message = "vpc_cidr must be a valid IPv4 network address with a prefix between /16 and /22 (e.g. 10.40.0.0/16, not 10.40.1.0/16)."
  }

  validation {
    condition     = can(regex("^(10\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|192\\.168\\.)", var.vpc_cidr))
    error_message = "vpc_cidr must be inside a private (RFC 1918) range."
  }
}

variable "availability_zone_suffixes" {
  description = "The two Availability Zones to use, as letters appended to the region (a, b -> eu-central-1a, eu-central-1b). The k3s node and a single-AZ database go into the first."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.availability_zone_suffixes) == 2 && length(distinct(var.availability_zone_suffixes)) == 2 && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "availability_zone_suffixes must be two different single letters, e.g. [\"a\", \"b\"]."
  }
}

variable "enable_nat_gateway" {
  description = "Create a NAT gateway so the private subnets can reach the internet (~USD 33-38/month plus USD 0.045-0.052/GB). Off by default: only RDS lives in the private subnets and it needs no egress."
  type        = bool
  default     = false
}

variable "admin_cidrs" {
  description = "IPv4 CIDRs allowed to reach the Kubernetes API (6443). Empty (the default) means no one: use an SSM Session Manager port forward instead. There is no SSH at all."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrnetmask(c))])
    error_message = "every admin_cidrs entry must be a valid IPv4 CIDR such as 203.0.113.10/32."
  }

  validation {
    condition     = alltrue([for c in var.admin_cidrs : try(tonumber(split("/", c)[1]) >= 16, false)])
    error_message = "admin_cidrs entries must be /16 or narrower: 0.0.0.0/0 (or anything close to it) would put the Kubernetes API on the internet."
  }
}

# ------------------------------------------------------------------------------------- compute

variable "instance_type" {
  description = "EC2 instance type of the k3s node. t4g.medium (4 GiB) is the smallest that holds k3s, Argo CD, Argo Rollouts, External Secrets, the monitoring stack and two replicas of the service; arm64 (t4g, m7g) is about 20% cheaper than x86."
  type        = string
  default     = "t4g.medium"

  validation {
    condition = contains([
      "t4g.small", "t4g.medium", "t4g.large", "t4g.xlarge",
      "t3.small", "t3.medium", "t3.large", "t3.xlarge",
      "t3a.medium", "t3a.large",
      "m7g.large", "m7g.xlarge", "m7i.large", "m7i.xlarge",
    ], var.instance_type)
    error_message = "instance_type must be one of the tested sizes: t4g.small|medium|large|xlarge, t3.small|medium|large|xlarge, t3a.medium|large, m7g.large|xlarge, m7i.large|xlarge."
  }
}

variable "root_volume_size_gb" {
  description = "Size of the node's encrypted gp3 root volume in GiB (OS, container images, k3s datastore, local-path volumes)."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_size_gb >= 20 && var.root_volume_size_gb <= 500 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "root_volume_size_gb must be a whole number between 20 and 500."
  }
}

# ----------------------------------------------------------------------- cluster bootstrap pins

variable "k3s_version" {
  description = "k3s release installed by the node's user data (a v1.33 release: the Kubernetes version the manifests in deploy/k8s are validated against)."
  type        = string
  default     = "v1.33.10+k3s1"

  validation {
    condition     = can(regex("^v1\\.33\\.[0-9]+\\+k3s[0-9]+$", var.k3s_version))
    error_message = "k3s_version must be a pinned v1.33 release such as v1.33.10+k3s1 (no channels like 'stable' or 'latest')."
  }
}

variable "argocd_version" {
  description = "Argo CD release whose manifests/install.yaml the user data applies."
  type        = string
  default     = "v3.3.8"

  validation {
    condition     = can(regex("^v3\\.[0-9]+\\.[0-9]+$", var.argocd_version))
    error_message = "argocd_version must be a pinned v3.x.y release tag such as v3.3.8."
  }
}

variable "argo_rollouts_version" {
  description = "Argo Rollouts release whose install.yaml the user data applies."
  type        = string
  default     = "v1.8.3"

  validation {
    condition     = can(regex("^v1\\.[0-9]+\\.[0-9]+$", var.argo_rollouts_version))
    error_message = "argo_rollouts_version must be a pinned v1.x.y release tag such as v1.8.3."
  }
}

variable "external_secrets_chart_version" {
  description = "External Secrets Operator Helm chart version installed through k3s' Helm controller (1.x serves the external-secrets.io/v1 API the manifests use)."
  type        = string
  default     = "1.3.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.external_secrets_chart_version))
    error_message = "external_secrets_chart_version must be an exact chart version such as 1.3.2."
  }
}

variable "git_repo_url" {
  description = "HTTPS URL of this repository. Argo CD syncs deploy/argocd from it (app of apps); a private repository also needs a repository secret in the argocd namespace."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+$", var.git_repo_url)) && length(var.git_repo_url) <= 256
    error_message = "git_repo_url must be an https:// URL of a Git repository without credentials, at most 256 characters (it is also the Repository tag)."
  }
}

variable "git_revision" {
  description = "Branch, tag or commit of git_repo_url that Argo CD tracks."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$", var.git_revision))
    error_message = "git_revision must be a branch, tag or commit name (letters, digits, . _ / -)."
  }
}

# ------------------------------------------------------------------------------------ database

variable "db_instance_class" {
  description = "RDS instance class. db.t4g.micro (2 vCPU burstable, 1 GiB, max_connections ~100) carries 2 replicas and a canary x (10 + 2) connections plus the migration job and exporter with headroom."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.(t4g\\.(micro|small|medium|large|xlarge)|t3\\.(micro|small|medium|large)|(m7g|m6g|r7g|r6g|m7i|m6i|r7i|r6i)\\.(large|xlarge|2xlarge|4xlarge))$", var.db_instance_class))
    error_message = "db_instance_class must be a current-generation RDS class such as db.t4g.micro, db.t4g.small, db.m7g.large or db.r7g.large."
  }
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage of the database in GiB (gp3 on RDS needs at least 20)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gb >= 20 && var.db_allocated_storage_gb <= 1000 && floor(var.db_allocated_storage_gb) == var.db_allocated_storage_gb
    error_message = "db_allocated_storage_gb must be a whole number between 20 and 1000."
  }
}

variable "db_max_allocated_storage_gb" {
  description = "Ceiling for RDS storage autoscaling in GiB; it must exceed db_allocated_storage_gb (0 turns autoscaling off)."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage_gb == 0 || (var.db_max_allocated_storage_gb >= 21 && var.db_max_allocated_storage_gb <= 2000)
    error_message = "db_max_allocated_storage_gb must be 0 (no autoscaling) or between 21 and 2000."
  }
}

variable "db_multi_az" {
  description = "Run RDS Multi-AZ (a synchronous standby in the second zone, automatic failover in 1-2 minutes). Doubles the instance and storage cost."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "How many days RDS keeps automated backups (point-in-time recovery window)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 7 (the minimum this project accepts) and 35 (the RDS maximum)."
  }
}

variable "db_performance_insights" {
  description = "Turn on Performance Insights (Database Insights standard mode) with the free 7-day retention."
  type        = bool
  default     = true
}

variable "db_name" {
  description = "Name of the application database created in the instance."
  type        = string
  default     = "echodiary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name)) && !contains(["postgres", "template0", "template1", "rdsadmin"], var.db_name)
    error_message = "db_name must be a lowercase identifier (letters, digits, underscores) and not a reserved database name."
  }
}

variable "db_username" {
  description = "Master user name of the RDS instance; the application connects as this user (its password lives only in SSM and the state)."
  type        = string
  default     = "echodiary"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_username)) && !contains(["postgres", "admin", "rdsadmin", "rds_superuser", "root"], var.db_username)
    error_message = "db_username must be a lowercase identifier and not a reserved name such as postgres, admin or rdsadmin."
  }
}

# ------------------------------------------------------------------------------------- backups

variable "pg_dump_retention_days" {
  description = "Days a logical backup (pg_dump) is kept in the S3 bucket before it expires; kept 30+ days past the RDS window so a problem found late can still be undone."
  type        = number
  default     = 35

  validation {
    condition     = var.pg_dump_retention_days >= 7 && var.pg_dump_retention_days <= 3650 && floor(var.pg_dump_retention_days) == var.pg_dump_retention_days
    error_message = "pg_dump_retention_days must be a whole number between 7 and 3650."
  }
}

variable "backup_prefix" {
  description = "First path segment of the backup keys. The node role may read and write s3://<bucket>/<backup_prefix>/<environment>/ only, which is where the backup CronJob writes (ConfigMap echodiary-backup, key prefix)."
  type        = string
  default     = "echodiary"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", var.backup_prefix))
    error_message = "backup_prefix must be a single path segment of lowercase letters, digits, _ and - (no slashes)."
  }
}

# -------------------------------------------------------------------------------------- email

# Required, but never in terraform.tfvars: it holds the mail server's password, so it comes from the
# environment (`export TF_VAR_smtp_url=...`, docs/deployment.md step 3). The empty default only keeps
# it out of the tfvars example: it fails the validation, so `terraform plan` stops with the message
# below until the variable is set. There is no "no email" value: an SSM SecureString cannot be empty.
variable "smtp_url" {
  description = "The mail server for password-reset emails, with its credentials: smtps://USER:PASSWORD@HOST:465 (TLS) or smtp://USER:PASSWORD@HOST:587?tls=required (STARTTLS), user and password percent-encoded; for Amazon SES, SES SMTP credentials and email-smtp.<region>.amazonaws.com. Stored as the SecureString /<project>/<environment>/smtp-url, which External Secrets gives the API. Required: set TF_VAR_smtp_url."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = can(regex("^smtps?://[^\\s]+$", var.smtp_url))
    error_message = "smtp_url must be set to the mail server's URL: export TF_VAR_smtp_url='smtps://USER:PASSWORD@HOST:465' (or smtp://USER:PASSWORD@HOST:587?tls=required) before terraform plan, see docs/deployment.md step 3. Production always sends email: an SSM SecureString cannot be empty."
  }
}

# ------------------------------------------------------------------------------------- secrets

variable "secret_operator_arns" {
  description = "ARNs of IAM roles or users, besides the identity running terraform apply (always included), that may write and read the SecureStrings: the secrets key's policy lets only them and the node role use it. List everyone who runs Terraform or the rotation runbook (an SSO permission set's role: its full ARN with the aws-reserved/sso.amazonaws.com/ path)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_operator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", a))])
    error_message = "secret_operator_arns entries must be IAM role or user ARNs, e.g. arn:aws:iam::123456789012:role/platform-admin (no wildcards, no assumed-role session ARNs)."
  }
}

# ------------------------------------------------------------------------------ notifications

variable "chat_webhook_url" {
  description = "Optional Slack or Discord (…/slack) webhook URL for Alertmanager and Argo CD notifications. When set it is stored as the SecureString /<project>/<environment>/chat-webhook-url; leave empty to create that parameter by hand."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.chat_webhook_url == "" || can(regex("^https://[^\\s]+$", var.chat_webhook_url))
    error_message = "chat_webhook_url must be empty or an https:// URL."
  }
}
