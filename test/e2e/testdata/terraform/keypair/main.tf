# TestTerraformKeyPair applies this configuration against an in-process
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
variable "ed25519_public_key" { type = string }
variable "rsa_public_key" { type = string }
variable "ed25519_tags" { type = map(string) }

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

resource "aws_key_pair" "ed25519" {
  key_name   = "tf-ed25519"
  public_key = var.ed25519_public_key
  tags       = var.ed25519_tags
}

resource "aws_key_pair" "rsa" {
  key_name   = "tf-rsa"
  public_key = var.rsa_public_key
  tags = {
    Name = "tf-rsa"
  }
}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_key_pair" "ed25519" {
  key_name           = aws_key_pair.ed25519.key_name
  include_public_key = true
}

output "ed25519_id" { value = aws_key_pair.ed25519.key_pair_id }
output "ed25519_fingerprint" { value = aws_key_pair.ed25519.fingerprint }
output "ed25519_key_type" { value = aws_key_pair.ed25519.key_type }
output "ed25519_tags" { value = aws_key_pair.ed25519.tags_all }
output "rsa_id" { value = aws_key_pair.rsa.key_pair_id }
output "rsa_fingerprint" { value = aws_key_pair.rsa.fingerprint }
output "rsa_key_type" { value = aws_key_pair.rsa.key_type }
output "region" { value = data.aws_region.current.name }
output "az_names" { value = data.aws_availability_zones.available.names }
output "az_zone_ids" { value = data.aws_availability_zones.available.zone_ids }
# key_pair_id is an argument of the data source, not an attribute it sets:
# the id is the key pair's id.
output "data_key_pair_id" { value = data.aws_key_pair.ed25519.id }
output "data_create_time" { value = data.aws_key_pair.ed25519.create_time }
output "data_fingerprint" { value = data.aws_key_pair.ed25519.fingerprint }
output "data_public_key" { value = data.aws_key_pair.ed25519.public_key }
output "data_key_type" { value = data.aws_key_pair.ed25519.key_type }
output "data_tags" { value = data.aws_key_pair.ed25519.tags }
