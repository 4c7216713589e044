# TestTerraformAutoScalingGroup applies this configuration against an
# in-process openami server: a launch template over an image the test
# registered and an Auto Scaling group of its latest version, which an
# instance refresh rolls onto a new version. The test writes
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
variable "image_id" { type = string }
variable "desired_capacity" { type = number }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = var.access_key
  secret_key                  = var.secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2         = var.endpoint
    sts         = var.endpoint
    autoscaling = var.endpoint
  }
}

resource "aws_launch_template" "web" {
  name          = "tf-fleet"
  image_id      = var.image_id
  instance_type = "t3.micro"
}

resource "aws_autoscaling_group" "web" {
  name                      = "tf-fleet"
  min_size                  = 1
  max_size                  = 4
  desired_capacity          = var.desired_capacity
  availability_zones        = ["us-east-1a", "us-east-1b"]
  health_check_type         = "EC2"
  health_check_grace_period = 0
  force_delete              = true
  wait_for_capacity_timeout = "2m"

  launch_template {
    id      = aws_launch_template.web.id
    version = aws_launch_template.web.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
      instance_warmup        = 0
    }
  }

  tag {
    key                 = "team"
    value               = "fleet"
    propagate_at_launch = true
  }
}

output "group_name" { value = aws_autoscaling_group.web.name }
output "template_id" { value = aws_launch_template.web.id }
