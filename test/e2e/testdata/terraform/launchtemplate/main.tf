# TestTerraformLaunchTemplate applies this configuration against an
# in-process openami server: a launch template over an image the test
# registered, and an instance launched from the template's latest
# version. The test writes terraform.tfvars.json beside a copy of it.

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
variable "image_id" { type = string }
variable "instance_type" { type = string }

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

resource "aws_launch_template" "web" {
  name          = "tf-web"
  description   = "web servers"
  image_id      = var.image_id
  instance_type = var.instance_type
  user_data     = base64encode("#!/bin/sh\necho hello from a template\n")

  metadata_options {
    http_tokens                 = "required"
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 2
  }

  block_device_mappings {
    device_name = "/dev/sdf"
    ebs {
      volume_size           = 1
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags = {
      Name = "tf-from-template"
    }
  }

  tags = {
    team = "platform"
  }
}

resource "aws_instance" "web" {
  launch_template {
    id      = aws_launch_template.web.id
    version = aws_launch_template.web.latest_version
  }
  # The template's instance tags are the instance's, as on EC2: the
  # provider reads them back, so the configuration repeats them.
  tags = {
    Name = "tf-from-template"
  }
  lifecycle {
    # A new version of the template does not replace the instance.
    # user_data: with none in the configuration, provider 5.100 hashes
    # the hash it read of the instance's user data (the template's) on
    # every plan, against EC2 as here; users ignore it.
    ignore_changes = [launch_template, user_data]
  }
}

output "template_id" { value = aws_launch_template.web.id }
output "latest_version" { value = aws_launch_template.web.latest_version }
output "instance_id" { value = aws_instance.web.id }
