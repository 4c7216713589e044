# TestTerraformSnapshotTier applies this configuration against an
# in-process openami server: a volume and a snapshot of it kept in the
# archive tier (the provider archives it with ModifySnapshotTier and
# waits on DescribeSnapshotTierStatus). The test writes
# terraform.tfvars.json beside a copy of it.

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

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = "us-east-1a"
  size              = 1
}

resource "aws_ebs_snapshot" "kept" {
  volume_id    = aws_ebs_volume.data.id
  storage_tier = "archive"
  tags = {
    Name = "kept"
  }
}

output "snapshot_id" { value = aws_ebs_snapshot.kept.id }
