"""The bubblewrap sandbox (used where Docker is absent): same checks, on the host interpreter."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main
from layerforge.errors import LayerforgeError
from layerforge.events import Event
from layerforge.runtimes import Architecture, get_runtime
from layerforge.sandbox import SandboxSpec, open_sandbox
from layerforge.sandbox.bwrap import bwrap_available
from tests.conftest import json_document, sandbox_required

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bwrap_available() is None and not sandbox_required(),
        reason="needs bubblewrap (scripts/test.sh installs it)",
    ),
]

SPEC = SandboxSpec(runtime=get_runtime("python3.11"), architecture=Architecture.X86_64)


def _ignore(_event: Event) -> None:
    return None


def test_seed_layer_imports_under_bwrap(
    seed_build: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["smoke", seed_build["output"], "--sandbox", "bwrap", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"].startswith("bwrap")
    assert {m["module"] for m in report["modules"] if m["ok"]} >= {"numpy", "pandas", "seaborn"}


def test_deleted_module_fails_under_bwrap(
    seed_build: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(seed_build["output"]) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            if not info.filename.startswith("python/pandas/core/frame."):
                target.writestr(info, source.read(info))
    assert main(["smoke", str(broken), "--sandbox", "bwrap", "--json"]) == 1
    failed = {m["module"]: m for m in json.loads(capsys.readouterr().out)["modules"] if not m["ok"]}
    assert "pandas" in failed and "pandas.core.frame" in failed["pandas"]["error"]
    assert "seaborn" in failed  # it imports pandas


def test_read_only_root_lambda_user_and_no_host_packages(
    seed_build: dict[str, Any], tmp_path: Path
) -> None:
    task = tmp_path / "task"
    task.mkdir()
    layer = Path(seed_build["output"])
    with open_sandbox(layer, SPEC, code=task, engine="bwrap", sink=_ignore) as box:
        probe = box.call(
            [
                *box.python,
                "-c",
                "import os, sys; print(os.getuid());"
                "import importlib.util as u; print(u.find_spec('hypothesis') is None);"
                "open('/tmp/ok', 'w').write('x');"
                "open('/var/task/no', 'w')",
            ]
        )
    lines = probe.stdout.split()
    assert lines[:2] == ["993", "True"]  # Lambda's user; the host's site-packages stay outside
    assert "Read-only file system" in probe.stderr


def test_invoke_local_under_bwrap_passes_the_three_checks(
    seed_build: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "invoke-local",
            "--layer",
            seed_build["output"],
            "--sandbox",
            "bwrap",
            "--event",
            '{"rows": 1500, "seed": 3}',
            "--json",
        ]
    )
    proof = json_document(capsys.readouterr().out)
    assert code == 0, proof
    assert [c["name"] for c in proof["checks"] if c["passed"]] == ["execution", "artifacts", "logs"]
    assert proof["engine"].startswith("bwrap")


def test_no_sandbox_at_all_is_one_clear_error(
    seed_build: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with (
        pytest.raises(LayerforgeError) as caught,
        open_sandbox(Path(seed_build["output"]), SPEC, engine="bwrap", sink=_ignore),
    ):
        pass
    assert "no sandbox available" in caught.value.message and "bwrap" in caught.value.message
