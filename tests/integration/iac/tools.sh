#!/usr/bin/env bash
# The IaC toolchains tests/integration/iac/ runs, installed once into LAYERFORGE_IAC_TOOLS
# (default /var/tmp/layerforge-ci/iac-tools) and skipped when present: the aws-cdk CLI from npm,
# a virtualenv with aws-cdk-lib + constructs (the CDK app's Python), one with aws-sam-cli (its
# pins are its own: kept apart from the test virtualenv's boto3 and moto). Terraform and its
# hashicorp/aws provider mirror are not on these registries: conftest.py beside this finds them.
set -euo pipefail
tools="${LAYERFORGE_IAC_TOOLS:-/var/tmp/layerforge-ci/iac-tools}"
python="${LAYERFORGE_IAC_PYTHON:-/usr/bin/python3}"
CDK_CLI=aws-cdk@2.1149.0
CDK_LIB="aws-cdk-lib==2.275.0 constructs==10.8.1"
SAM="aws-sam-cli==1.170.0"
mkdir -p "$tools"

# a stamp names what was installed: a changed pin installs again, an unchanged one is skipped
installed() { [ -f "$tools/$1.stamp" ] && [ "$(cat "$tools/$1.stamp")" = "$2" ]; }

venv_with() {  # NAME PACKAGES...
  local name=$1; shift
  installed "$name" "$*" && return 0
  rm -rf "${tools:?}/$name"
  "$python" -m venv "$tools/$name"
  "$tools/$name/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$tools/$name.stamp"
}

if ! installed npm "$CDK_CLI"; then
  npm install --prefix "$tools/npm" --no-audit --no-fund --loglevel=error "$CDK_CLI"
  echo "$CDK_CLI" > "$tools/npm.stamp"
fi
# shellcheck disable=SC2086  # the pins are words
venv_with cdk $CDK_LIB
venv_with sam $SAM
chmod -R a+rX "$tools"
