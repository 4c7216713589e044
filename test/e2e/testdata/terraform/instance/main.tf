# TestTerraformInstance applies this configuration against an in-process
# openami server: an instance launched from an image the test registered,
# an image made from that instance, and a copy of that image in the same
# region. The test writes terraform.tfvars.json beside a copy of it.

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

resource "aws_key_pair" "this" {
  key_name   = "tf-instance"
  public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlpK3rmj9bPq8zDN2yVT3j8zMYQ1XVx2b3tCq9y0mJ7 tf@openami"
}

resource "aws_instance" "web" {
  ami           = var.image_id
  instance_type = var.instance_type
  key_name      = aws_key_pair.this.key_name
  user_data     = "#!/bin/sh\necho hello from terraform\n"

  root_block_device {
    volume_size = 2
    volume_type = "gp3"
  }

  ebs_block_device {
    device_name = "/dev/sdf"
    volume_size = 1
  }

  metadata_options {
    http_tokens = "required"
  }

  tags = {
    Name = "tf-web"
  }
}

resource "aws_ami_from_instance" "golden" {
  name               = "tf-golden"
  source_instance_id = aws_instance.web.id
  tags = {
    kind = "golden"
  }
}

resource "aws_ami_copy" "copy" {
  name              = "tf-golden-copy"
  source_ami_id     = aws_ami_from_instance.golden.id
  source_ami_region = "us-east-1"
}

output "instance_id" { value = aws_instance.web.id }
output "instance_state" { value = aws_instance.web.instance_state }
output "private_ip" { value = aws_instance.web.private_ip }
output "subnet_id" { value = aws_instance.web.subnet_id }
output "root_volume_id" { value = aws_instance.web.root_block_device[0].volume_id }
output "golden_id" { value = aws_ami_from_instance.golden.id }
output "golden_root_snapshot" { value = aws_ami_from_instance.golden.root_snapshot_id }
output "copy_id" { value = aws_ami_copy.copy.id }
