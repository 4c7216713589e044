# TestSSM applies this configuration against an in-process openami server
# as an account that did not publish anything: it finds the operator's
# "latest image" parameter and, by owner alias, the image it names, and
# keeps its own parameter pointing at that image.

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
variable "parameter" { type = string }
variable "owner" { type = string }
variable "name_prefix" { type = string }

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
    ssm = var.endpoint
    sts = var.endpoint
  }
}

data "aws_ssm_parameter" "latest" {
  name = var.parameter
}

data "aws_ami" "latest" {
  most_recent = true
  owners      = [var.owner]
  filter {
    name   = "name"
    values = ["${var.name_prefix}*"]
  }
}

resource "aws_ssm_parameter" "mine" {
  name        = "/app/ami"
  description = "the image the app runs"
  type        = "String"
  data_type   = "aws:ec2:image"
  value       = data.aws_ami.latest.id
  tags        = { team = "infra" }
}

output "mine_version" { value = tostring(aws_ssm_parameter.mine.version) }
output "mine_arn" { value = aws_ssm_parameter.mine.arn }
output "parameter_value" { value = nonsensitive(data.aws_ssm_parameter.latest.value) }
output "parameter_type" { value = data.aws_ssm_parameter.latest.type }
output "parameter_version" { value = tostring(data.aws_ssm_parameter.latest.version) }
output "parameter_arn" { value = data.aws_ssm_parameter.latest.arn }
output "ami_id" { value = data.aws_ami.latest.id }
output "ami_owner_alias" { value = data.aws_ami.latest.image_owner_alias }
