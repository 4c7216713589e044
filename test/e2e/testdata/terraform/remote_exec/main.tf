# TestQemuPackerTerraform applies this configuration against
# `openami serve --runtime qemu`: a key pair of the test's own public key,
# a security group that lets SSH in, and an instance of the image Packer
# baked, which a remote-exec provisioner logs into (as admin, at its
# public address) to write a file. The test writes terraform.tfvars.json
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
variable "image_id" { type = string }
variable "public_key" { type = string }
variable "private_key" {
  type      = string
  sensitive = true
}
variable "message" { type = string }

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

resource "aws_key_pair" "deploy" {
  key_name   = "tf-deploy"
  public_key = var.public_key
}

resource "aws_security_group" "ssh" {
  name        = "tf-ssh"
  description = "SSH from anywhere"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "web" {
  ami                    = var.image_id
  instance_type          = "t3.micro"
  key_name               = aws_key_pair.deploy.key_name
  vpc_security_group_ids = [aws_security_group.ssh.id]

  connection {
    type        = "ssh"
    host        = self.public_ip
    user        = "admin"
    private_key = var.private_key
    timeout     = "20m"
  }

  provisioner "remote-exec" {
    inline = [
      "echo '${var.message}' | sudo tee /etc/deployed-by-terraform",
    ]
  }
}

output "instance_id" { value = aws_instance.web.id }
output "public_ip" { value = aws_instance.web.public_ip }
