# TestTerraformAMI applies this configuration against an in-process openami
# server. The test writes terraform.tfvars.json beside a copy of it, with
# the id of a snapshot it made through the EBS direct API and the account
# id the image is shared with.

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
variable "snapshot_id" { type = string }
variable "share_with" { type = string }
variable "image_name" { type = string }
variable "name_prefix" { type = string }
variable "description" { type = string }
variable "tags" { type = map(string) }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # The provider has no endpoint for the EBS direct API (it has no
  # resource that uses it): the snapshot comes from the test.
  endpoints {
    ec2 = var.endpoint
    sts = var.endpoint
  }
}

resource "aws_ami" "this" {
  name                = var.image_name
  description         = var.description
  architecture        = "x86_64"
  root_device_name    = "/dev/xvda"
  virtualization_type = "hvm"
  ena_support         = true
  boot_mode           = "uefi-preferred"

  ebs_block_device {
    device_name = "/dev/xvda"
    snapshot_id = var.snapshot_id
    volume_size = 8
    volume_type = "gp3"
  }

  ephemeral_block_device {
    device_name  = "/dev/sdb"
    virtual_name = "ephemeral0"
  }

  tags = var.tags
}

resource "aws_ami_launch_permission" "account" {
  image_id   = aws_ami.this.id
  account_id = var.share_with
}

# group is in the provider's schema (5.100): the image becomes public.
resource "aws_ami_launch_permission" "public" {
  image_id = aws_ami.this.id
  group    = "all"
}

# The test registers two more images beforehand: an older one whose name
# has the prefix too, and one whose name has not. The data sources depend
# on the image and its launch permissions, so they are read after all three
# exist (they see the image public) and again after the image changes.
data "aws_ami" "by_name" {
  owners      = ["self"]
  most_recent = true
  filter {
    name   = "name"
    values = ["${var.name_prefix}*"]
  }
  depends_on = [aws_ami.this, aws_ami_launch_permission.account, aws_ami_launch_permission.public]
}

data "aws_ami_ids" "mine" {
  owners     = ["self"]
  name_regex = "^${var.name_prefix}"
  depends_on = [aws_ami.this, aws_ami_launch_permission.account, aws_ami_launch_permission.public]
}

output "image_id" { value = aws_ami.this.id }
output "arn" { value = aws_ami.this.arn }
output "owner_id" { value = aws_ami.this.owner_id }
output "root_snapshot_id" { value = aws_ami.this.root_snapshot_id }
output "tags_all" { value = aws_ami.this.tags_all }
output "account_permission_id" { value = aws_ami_launch_permission.account.id }
output "public_permission_id" { value = aws_ami_launch_permission.public.id }
output "data_id" { value = data.aws_ami.by_name.id }
output "data_image_id" { value = data.aws_ami.by_name.image_id }
output "data_name" { value = data.aws_ami.by_name.name }
output "data_description" { value = data.aws_ami.by_name.description }
output "data_architecture" { value = data.aws_ami.by_name.architecture }
output "data_boot_mode" { value = data.aws_ami.by_name.boot_mode }
output "data_ena_support" { value = data.aws_ami.by_name.ena_support }
output "data_root_device_name" { value = data.aws_ami.by_name.root_device_name }
output "data_root_device_type" { value = data.aws_ami.by_name.root_device_type }
output "data_root_snapshot_id" { value = data.aws_ami.by_name.root_snapshot_id }
output "data_virtualization_type" { value = data.aws_ami.by_name.virtualization_type }
output "data_state" { value = data.aws_ami.by_name.state }
output "data_public" { value = data.aws_ami.by_name.public }
output "data_owner_id" { value = data.aws_ami.by_name.owner_id }
output "data_tags" { value = data.aws_ami.by_name.tags }
output "data_block_device_mappings" { value = data.aws_ami.by_name.block_device_mappings }
output "ids" { value = data.aws_ami_ids.mine.ids }
