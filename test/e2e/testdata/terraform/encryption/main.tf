# TestTerraformEncryption applies this configuration against an in-process
# openami server: EBS encryption by default with a customer key, an
# encrypted volume, its snapshot, an image over it, and an encrypted copy
# of that image in another region. The test writes terraform.tfvars.json
# beside a copy of it.

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
    kms = var.endpoint
    sts = var.endpoint
  }
}

provider "aws" {
  alias                       = "west"
  region                      = "us-west-2"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = var.endpoint
    kms = var.endpoint
    sts = var.endpoint
  }
}

resource "aws_kms_key" "ebs" {
  description             = "terraform ebs key"
  deletion_window_in_days = 7
}

resource "aws_kms_key" "west" {
  provider                = aws.west
  description             = "terraform ebs key in the west"
  deletion_window_in_days = 7
}

resource "aws_ebs_encryption_by_default" "on" {
  enabled = true
}

resource "aws_ebs_default_kms_key" "ebs" {
  key_arn = aws_kms_key.ebs.arn
}

resource "aws_ebs_volume" "data" {
  availability_zone = "us-east-1a"
  size              = 1
  encrypted         = true
  kms_key_id        = aws_kms_key.ebs.arn
  tags = {
    Name = "tf-encrypted"
  }
}

resource "aws_ebs_snapshot" "data" {
  volume_id = aws_ebs_volume.data.id
}

resource "aws_ami" "encrypted" {
  name                = "tf-encrypted"
  root_device_name    = "/dev/xvda"
  virtualization_type = "hvm"
  ebs_block_device {
    device_name = "/dev/xvda"
    snapshot_id = aws_ebs_snapshot.data.id
  }
}

resource "aws_ami_copy" "west" {
  provider          = aws.west
  name              = "tf-encrypted-west"
  source_ami_id     = aws_ami.encrypted.id
  source_ami_region = "us-east-1"
  encrypted         = true
  kms_key_id        = aws_kms_key.west.arn
}

output "volume_id" { value = aws_ebs_volume.data.id }
output "volume_kms_key_id" { value = aws_ebs_volume.data.kms_key_id }
output "snapshot_encrypted" { value = aws_ebs_snapshot.data.encrypted }
output "snapshot_kms_key_id" { value = aws_ebs_snapshot.data.kms_key_id }
output "key_arn" { value = aws_kms_key.ebs.arn }
output "west_key_arn" { value = aws_kms_key.west.arn }
output "ami_id" { value = aws_ami.encrypted.id }
output "copy_id" { value = aws_ami_copy.west.id }
