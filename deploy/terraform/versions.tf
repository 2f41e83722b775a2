# Terraform and provider pins. `terraform init` writes .terraform.lock.hcl: commit it after the first
# init so every apply uses the same provider builds.
terraform {
  # 1.10 or later (OpenTofu 1.10+ works too): the S3 backend's lock file (`use_lockfile`, in
  # backend.tf.example) needs it, and it is the locking this configuration documents.
  required_version = ">= 1.10.0"

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

  # Every taggable resource gets these; resources add their own `Name`. tools/checks/terraform.py
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
