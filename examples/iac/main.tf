# Terraform, untested here: no Terraform runs in this project's CI.
resource "aws_lambda_layer_version" "deps" {
  layer_name               = "analytics-deps"
  filename                 = "dist/layer-python3.12-x86_64.zip"
  source_code_hash         = filebase64sha256("dist/layer-python3.12-x86_64.zip")
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = ["x86_64"]
}

resource "aws_lambda_function" "analytics" {
  function_name = "sales-report"
  role          = var.role_arn
  runtime       = "python3.12"
  architectures = ["x86_64"]
  handler       = "sales_report.handler.main"
  filename      = "function.zip"
  layers        = [aws_lambda_layer_version.deps.arn] # or the ARN layerforge publish printed
}

variable "role_arn" {
  type = string
}
