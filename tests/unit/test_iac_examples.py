"""The IaC snippets the README shows are the files under examples/iac/. Here, the quick checks:
cfn-lint on the SAM template, check-jsonschema (with the GitHub workflow schema it ships) on the
CI job, and the job's own commands against layerforge's CLI. tests/integration/iac/ runs the tools
themselves: terraform apply against moto, cdk synth + cfn-lint, sam validate --lint."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from packaging.requirements import Requirement
from ruamel.yaml import YAML

from layerforge.cli import cli

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


def _workflow() -> Any:
    return YAML(typ="safe", pure=True).load((IAC / "github-workflow.yml").read_text("utf-8"))


def _commands() -> list[list[str]]:
    """Each shell command of the workflow's steps, as words (``${{ ... }}`` as a value, and
    without a trailing redirection)."""
    commands = []
    for step in _workflow()["jobs"]["layer"]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "VALUE", line), comments=True)
            if words:
                commands.append(words[: words.index(">")] if ">" in words else words)
    return commands


def _layerforge(command: str) -> list[list[str]]:
    return [w[2:] for w in _commands() if w[:2] == ["layerforge", command]]


def test_the_workflow_runs_only_layerforge_commands_its_cli_accepts() -> None:
    used = [w for w in _commands() if w[0] == "layerforge"]
    assert {w[1] for w in used} >= {"build", "verify-abi", "smoke", "publish"}
    for words in used:
        command = cli.get_command(click.Context(cli), words[1])
        assert command is not None, words
        command.make_context(words[1], words[2:], parent=click.Context(cli)).close()


def test_the_workflow_stages_the_layer_through_s3() -> None:
    """The default analytics layer zips to ~55 MB: over the 50 MiB direct-upload limit."""
    (publish,) = _layerforge("publish")
    assert "--staging-bucket" in publish


def test_the_workflow_installs_layerforge_from_where_it_is() -> None:
    """layerforge is not on PyPI: a bare ``pip install layerforge`` would fail."""
    (install,) = [w for w in _commands() if w[:2] == ["pip", "install"]]
    (requirement,) = [Requirement(r) for r in install[2:] if Requirement(r).name == "layerforge"]
    assert requirement.url is not None and requirement.url.startswith("git+https://")


def test_the_workflow_runs_the_runtimes_python() -> None:
    """The runtime's interpreter compiles the layer's bytecode (without it, every cold start
    compiles it again)."""
    (build,) = _layerforge("build")
    runtime = build[build.index("--runtime") + 1]
    (setup,) = [
        s for s in _workflow()["jobs"]["layer"]["steps"] if "setup-python" in s.get("uses", "")
    ]
    assert runtime == f"python{setup['with']['python-version']}"
