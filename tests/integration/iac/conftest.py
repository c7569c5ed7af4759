"""The IaC toolchains (Terraform with its hashicorp/aws provider mirror, the aws-cdk CLI with
aws-cdk-lib, aws-sam-cli) and the real layerforge layer the snippets deploy.

tests/integration/iac/tools.sh installs the registry-borne tools into LAYERFORGE_IAC_TOOLS
(scripts/test.sh runs it); Terraform and its provider mirror come with this project's machines.
A missing tool skips its test with the reason, except under CI/LAYERFORGE_REQUIRE_DOCKER=1,
where it fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from layerforge.cli import main
from tests.conftest import make_private_wheel, sandbox_required

ROOT = Path(__file__).parents[3]
IAC = ROOT / "examples" / "iac"
SALES_REPORT = ROOT / "examples" / "sales-report" / "sales_report"
LAYER_ZIP = "dist/layer-python3.12-x86_64.zip"  # the path every snippet names
TOOLS = Path(os.environ.get("LAYERFORGE_IAC_TOOLS", "/var/tmp/layerforge-ci/iac-tools"))
INSTALL = "bash tests/integration/iac/tools.sh installs it (scripts/test.sh runs that)"
# where Terraform itself looks for unpacked or packed providers, and /opt/<mirror>/
PROVIDER_DIRS = (
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/*",
)


def require(found: str | Path | None, missing: str) -> str:
    """``found`` as a string, or the test skipped (failed where the tools must exist)."""
    if found is None:
        if sandbox_required():
            pytest.fail(f"{missing} (CI must run the IaC tests)")
        pytest.skip(missing)
    return str(found)


def run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """A tool's run, its output kept for the assertion message (the timeout only stops a hang)."""
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def output_of(done: subprocess.CompletedProcess[str]) -> str:
    return f"{' '.join(map(str, done.args))} exited {done.returncode}\n{done.stdout}{done.stderr}"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A tool's environment: this PATH and a fresh HOME, none of the caller's AWS, Terraform or
    CDK settings, no EC2 metadata lookups (nothing here may reach for AWS)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def tool(name: str, *, installed_at: str) -> Path | None:
    """``name`` from tests/integration/iac/tools.sh's folder, else from PATH."""
    here = TOOLS / installed_at
    if here.is_file() and os.access(here, os.X_OK):
        return here
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def provider_platform() -> str:
    machine = platform.machine().lower()
    return "linux_" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def aws_provider_mirror() -> Path | None:
    """A filesystem mirror holding registry.terraform.io/hashicorp/aws for this platform:
    LAYERFORGE_TF_PROVIDER_MIRROR if set, else the first of PROVIDER_DIRS that has one."""
    given = os.environ.get("LAYERFORGE_TF_PROVIDER_MIRROR")
    candidates = [Path(given)] if given else []
    for pattern in () if given else PROVIDER_DIRS:
        parent = Path(pattern.removesuffix("/*")).expanduser()
        candidates += sorted(parent.glob("*")) if pattern.endswith("/*") else [parent]
    target = provider_platform()
    for mirror in candidates:
        aws = mirror / "registry.terraform.io" / "hashicorp" / "aws"
        unpacked = aws.glob(f"*/{target}/terraform-provider-aws*")
        packed = aws.glob(f"terraform-provider-aws_*_{target}.zip")
        if next(unpacked, None) or next(packed, None):
            return mirror
    return None


@pytest.fixture(scope="session")
def iac_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real layerforge layer for python3.12/x86_64 (what every snippet names), small: a
    private wheel built here, installed, verified and zipped by ``layerforge build``."""
    work = tmp_path_factory.mktemp("iac-layer")
    wheels = make_private_wheel(work / "wheels").parent
    output = work / LAYER_ZIP
    argv = ["build", "private-pkg==1.0", "--find-links", str(wheels), "--runtime", "python3.12"]
    argv += ["--arch", "x86_64", "--backend", "cross", "-o", str(output), "--json"]
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(io.StringIO()) as printed,
    ):
        patch.setenv("LAYERFORGE_CACHE_DIR", str(work / "cache"))
        code = main(argv)
    assert code == 0, printed.getvalue()
    return output


@pytest.fixture(scope="session")
def function_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/sales-report's handler package, zipped as a function's code."""
    path = tmp_path_factory.mktemp("iac-function") / "function.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for source in sorted(SALES_REPORT.rglob("*.py")):
            archive.write(source, source.relative_to(SALES_REPORT.parent).as_posix())
    return path


def place(layer: Path, folder: Path) -> Path:
    """The layer where the snippets expect it, relative to ``folder``."""
    target = folder / LAYER_ZIP
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layer, target)
    return target
