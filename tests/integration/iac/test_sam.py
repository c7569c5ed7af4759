"""examples/iac/sam-template.yaml through ``sam validate --lint`` (aws-sam-cli's own translation
and lint), offline: no credentials, telemetry off, its weekly version check already done."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.iac.conftest import IAC, INSTALL, clean_env, output_of, require, run, tool

pytestmark = pytest.mark.slow


def test_sam_validate_lint_accepts_the_template(tmp_path: Path) -> None:
    sam = require(tool("sam", installed_at="sam/bin/sam"), f"no aws-sam-cli: {INSTALL}")
    home = tmp_path / "home"
    settings = home / ".aws-sam" / "metadata.json"  # where sam keeps its last version check
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False}))
    env = clean_env(home, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="eu-west-1")
    template = IAC / "sam-template.yaml"
    done = run([sam, "validate", "--lint", "--template-file", str(template)], tmp_path, env)
    assert done.returncode == 0, output_of(done)
    assert "is a valid SAM Template" in done.stdout + done.stderr
