"""The IaC snippets the README shows are the files under examples/iac/, and each is checked by
the tool that exists for it on PyPI: cfn-lint for the SAM template, check-jsonschema (with the
GitHub workflow schema it ships) for the CI job. CDK and Terraform have no such tool here; the
README marks them untested."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
IAC = ROOT / "examples" / "iac"


@pytest.mark.parametrize(
    "name", ["sam-template.yaml", "github-workflow.yml", "cdk_stack.py", "main.tf"]
)
def test_the_readme_shows_the_checked_files_verbatim(name: str) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert (IAC / name).read_text("utf-8").strip() in readme, f"README's {name} drifted"


def test_cfn_lint_accepts_the_sam_template() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(IAC / "sam-template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_github_workflow_matches_the_workflow_schema() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(IAC / "github-workflow.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
