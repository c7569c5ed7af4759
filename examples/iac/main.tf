# Terraform (hashicorp/aws 5.x): applied against a moto server in this project's tests.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "function_name" {
  type    = string
  default = "sales-report"
}

variable "artifact_bucket" {
  type        = string
  description = "An existing bucket in var.region: the layer is staged and the results written here."
}

data "aws_caller_identity" "here" {}
data "aws_partition" "here" {}

locals {
  layer_zip = "dist/layer-python3.12-x86_64.zip"
  arn       = "arn:${data.aws_partition.here.partition}"
  log_group = "${local.arn}:logs:${var.region}:${data.aws_caller_identity.here.account_id}:log-group:/aws/lambda/${var.function_name}"
}

# Over 50 MiB (the default analytics layer is 52.4 MiB) Lambda takes a layer only from S3.
resource "aws_s3_object" "layer_zip" {
  bucket = var.artifact_bucket
  key    = "layers/analytics-deps/${filesha256(local.layer_zip)}.zip" # a new zip, a new key
  source = local.layer_zip
}

resource "aws_lambda_layer_version" "deps" {
  layer_name               = "analytics-deps"
  s3_bucket                = aws_s3_object.layer_zip.bucket
  s3_key                   = aws_s3_object.layer_zip.key
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

resource "aws_iam_role" "analytics" {
  name = var.function_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

# What the function does, and no more: read and write its bucket, write its own log group.
resource "aws_iam_role_policy" "analytics" {
  name = var.function_name
  role = aws_iam_role.analytics.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "${local.arn}:s3:::${var.artifact_bucket}/*"
      },
      {
        Effect   = "Allow"
        Action   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [local.log_group, "${local.log_group}:*"]
      },
    ]
  })
}

resource "aws_lambda_function" "analytics" {
  function_name    = var.function_name
  role             = aws_iam_role.analytics.arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = "sales_report.handler.main"
  filename         = "function.zip"
  source_code_hash = filebase64sha256("function.zip")
  memory_size      = 1024 # imports alone take ~200 MB and seconds: Lambda's 128 MB / 3 s fail
  timeout          = 300
  layers           = [aws_lambda_layer_version.deps.arn] # or the ARN layerforge publish printed
  environment {
    variables = { ARTIFACT_BUCKET = var.artifact_bucket }
  }
  depends_on = [aws_iam_role_policy.analytics] # its first run may write already
}

output "layer_arn" {
  value = aws_lambda_layer_version.deps.arn
}
