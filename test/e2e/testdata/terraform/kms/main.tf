# TestKMSTerraform applies this configuration against an in-process openami
# server. The test writes terraform.tfvars.json beside a copy of it.

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

resource "aws_kms_key" "plain" {
  description             = "terraform default policy"
  deletion_window_in_days = 7
  tags = {
    team = "infra"
  }
}

resource "aws_kms_key" "shared" {
  description             = "terraform shared with a friend"
  deletion_window_in_days = 10
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Owner"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "Friend"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.friend_account_id}:root" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "plain" {
  name          = "alias/tf-plain"
  target_key_id = aws_kms_key.plain.key_id
}

resource "aws_kms_ciphertext" "secret" {
  key_id    = aws_kms_alias.plain.name
  plaintext = "terraform secret"
  context = {
    purpose = "test"
  }
}

data "aws_kms_key" "by_alias" {
  key_id = aws_kms_alias.plain.name
}

# The AWS managed EBS key, before any EBS use: the data source finds the
# predefined alias with ListAliases, and its DescribeKey makes the key.
data "aws_kms_alias" "ebs" {
  name = "alias/aws/ebs"
}

output "plain_key_id" { value = aws_kms_key.plain.key_id }
output "plain_arn" { value = aws_kms_key.plain.arn }
output "shared_key_id" { value = aws_kms_key.shared.key_id }
output "alias_arn" { value = aws_kms_alias.plain.arn }
output "alias_target_arn" { value = aws_kms_alias.plain.target_key_arn }
output "ciphertext" { value = aws_kms_ciphertext.secret.ciphertext_blob }
output "data_key_arn" { value = data.aws_kms_key.by_alias.arn }
output "data_key_state" { value = data.aws_kms_key.by_alias.key_state }
output "ebs_alias_target_arn" { value = data.aws_kms_alias.ebs.target_key_arn }
