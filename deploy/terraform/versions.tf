# Terraform and provider pins. `terraform init` writes .terraform.lock.hcl: commit it after the first
# init so every apply uses the same provider builds.
terraform {
  # 1.6 or later (OpenTofu 1.6+ works too). The S3 backend's `use_lockfile`, shown in
  # backend.tf.example, needs Terraform 1.10; its DynamoDB locking works on any version.
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region

  # Every taggable resource gets these; resources add their own `Name`. scripts/check-terraform.sh
  # fails if one of the keys goes missing (cost allocation and ownership depend on them).
  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = var.git_repo_url
    }
  }
}
