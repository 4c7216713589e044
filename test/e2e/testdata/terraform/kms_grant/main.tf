# TestKMSGrantTerraform applies this configuration against an in-process
# openami server. The test writes terraform.tfvars.json beside a copy of it.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "endpoint" { type = string }
variable "access_key" { type = string }
variable "secret_key" {
  type      = string
  sensitive = true
}
variable "account_id" { type = string }
variable "friend_account_id" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    kms = var.endpoint
    sts = var.endpoint
  }
}

resource "aws_kms_key" "shared" {
  description             = "terraform key shared by grants"
  deletion_window_in_days = 7
}

# A cross-account grant with a constraint, named, revoked on destroy.
resource "aws_kms_grant" "friend" {
  name              = "tf-grant"
  key_id            = aws_kms_key.shared.key_id
  grantee_principal = "arn:aws:iam::${var.friend_account_id}:root"
  operations        = ["Encrypt", "Decrypt", "DescribeKey"]
  constraints {
    encryption_context_equals = {
      app = "tf"
    }
  }
}

# A grant in the key's own account, by key ARN, retired on destroy.
resource "aws_kms_grant" "self" {
  key_id             = aws_kms_key.shared.arn
  grantee_principal  = "arn:aws:iam::${var.account_id}:role/worker"
  retiring_principal = "arn:aws:iam::${var.account_id}:root"
  operations         = ["GenerateDataKey", "Decrypt", "RetireGrant"]
  retire_on_delete   = true
  constraints {
    encryption_context_subset = {
      purpose = "backup"
    }
  }
}

output "key_arn" { value = aws_kms_key.shared.arn }
output "grant_id" { value = aws_kms_grant.friend.grant_id }
output "grant_token" {
  value     = aws_kms_grant.friend.grant_token
  sensitive = true
}
