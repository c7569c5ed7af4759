"""smoke and invoke-local with hostile layers, modules and options (bubblewrap, no Docker)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from layerforge.sandbox.bwrap import bwrap_available
from tests.adversarial.conftest import LF, failed_cleanly, zip_of
from tests.conftest import sandbox_required

pytestmark = pytest.mark.adversarial

needs_bwrap = pytest.mark.skipif(
    bwrap_available() is None and not sandbox_required(), reason="needs bubblewrap"
)

HOSTILE = {
    "python/good/__init__.py": b"X = 1\n",
    "python/forger.py": b"import atexit, json\n"
    b"atexit.register(lambda: print(json.dumps({'ok': True, 'module': 'forger'})))\n"
    b"raise ImportError('I am broken')\n",
    "python/hang.py": b"import time\ntime.sleep(1000)\n",
    "python/nometa.py": b"raise RuntimeError('no metadata, still imported')\n",
    "python/ns_pkg/sub/__init__.py": b"raise ValueError('inside a namespace package')\n",
    "python/spawner.py": b"import subprocess\nsubprocess.Popen(['sleep', '1000'])\n"
    b"import time\ntime.sleep(1000)\n",
    "python/good-1.0.dist-info/METADATA": b"Name: good\nVersion: \xff\xfe1.0\n",
}


@needs_bwrap
def test_smoke_cannot_be_fooled_and_names_the_module_that_hangs(lf: LF, work: Path) -> None:
    layer = zip_of(work / "hostile.zip", HOSTILE)
    run = lf("smoke", str(layer), "--sandbox", "bwrap", "--timeout", "3", "--json", timeout=90)
    assert run.code == 1, run.describe()
    modules = {m["module"]: m for m in run.json()["modules"]}
    assert set(modules) == {"forger", "good", "hang", "nometa", "ns_pkg.sub", "spawner"}
    assert modules["good"]["ok"] is True
    assert modules["forger"]["ok"] is False and "I am broken" in modules["forger"]["error"]
    assert "timed out" in modules["hang"]["error"] and "timed out" in modules["spawner"]["error"]
    assert "no metadata" in modules["nometa"]["error"]
    assert run.processes == [] and run.leftovers == [], run.describe()
    assert run.seconds < 60


@needs_bwrap
def test_sigterm_during_smoke_leaves_no_sandbox_behind(lf: LF, work: Path) -> None:
    layer = zip_of(work / "hostile.zip", HOSTILE)
    run = lf(
        "smoke",
        str(layer),
        "--sandbox",
        "bwrap",
        "--timeout",
        "30",
        interrupt_on=r"Importing modules in the sandbox \.\.\.",
        signum=signal.SIGTERM,
    )
    failed_cleanly(run, 143, "interrupted by SIGTERM", bound=30)


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (b"not a zip at all", 2, "is not a readable zip"),
        (None, 2, "No such file"),
    ],
)
def test_smoke_with_a_file_that_is_no_layer(
    lf: LF, work: Path, content: bytes | None, code: int, fragment: str
) -> None:
    if content is not None:
        (work / "layer.zip").write_bytes(content)
    failed_cleanly(lf("smoke", "layer.zip", "--sandbox", "bwrap"), code, fragment, bound=15)


@needs_bwrap
def test_smoke_with_a_corrupt_member(lf: LF, work: Path) -> None:
    layer = zip_of(work / "c.zip", {"python/m.py": b"x = 1\n" * 2000})
    data = bytearray(layer.read_bytes())
    data[60:80] = b"\xff" * 20
    layer.write_bytes(bytes(data))
    failed_cleanly(lf("smoke", str(layer), "--sandbox", "bwrap"), 1, "is corrupt", bound=15)


def test_smoke_with_bad_options(lf: LF, small_layer: Path) -> None:
    failed_cleanly(lf("smoke", str(small_layer), "--timeout", "0"), 2, "--timeout", bound=15)
    failed_cleanly(lf("smoke", str(small_layer), "--memory", "12"), 2, "--memory", bound=15)
    failed_cleanly(lf("smoke", str(small_layer), "--sandbox", "vm"), 2, "vm", bound=15)


def test_a_sandbox_that_cannot_start_is_an_operation_error(lf: LF, small_layer: Path) -> None:
    run = lf("smoke", str(small_layer), "--sandbox", "bwrap", env={"PATH": "/nonexistent"})
    failed_cleanly(run, 3, "no sandbox available", bound=15)
    arm = lf(
        "smoke",
        str(small_layer),
        "--sandbox",
        "bwrap",
        "--arch",
        "arm64",
        env={"LAYERFORGE_ROOTFS_ARM64": ""},
    )
    assert arm.code == 3 and len(arm.error_lines) == 1, arm.describe()
    assert "arm64" in arm.error_lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--event", "{not json"], "is not JSON"),
        (["--event", "[1, 2]"], "must be a JSON object"),
        (["--event", "@absent.json"], "no such file"),
        (["--prefix", "."], "is not allowed"),
        (["--prefix", "a/../b"], "is not allowed"),
        (["--bucket", "Bad_Bucket"], "bucket"),
        (["--handler", "app.main"], "--handler needs --function-dir"),
        (["--function-dir", "absent", "--handler", "app.main"], "is not a folder"),
        (["--function-dir", ".", "--handler", "not a handler"], "is not module.function"),
        (["--function-dir", ".", "--handler", "missing.main"], "no missing.py"),
        (["--proof", "absent.toml"], "cannot read proof spec"),
        (["--endpoint-url", "not a url"], "is not a URL"),
        (["--function-dir", ".", "--function-zip", "x.zip", "--handler", "a.b"], "not both"),
    ],
)
def test_invoke_local_refuses_bad_options_before_starting_anything(
    lf: LF, small_layer: Path, argv: list[str], fragment: str
) -> None:
    failed_cleanly(lf("invoke-local", "--layer", str(small_layer), *argv), 2, fragment, bound=15)


def test_invoke_local_with_a_bad_proof_spec(lf: LF, work: Path, small_layer: Path) -> None:
    (work / "app.py").write_text("def main(event, context):\n    return {}\n")
    for body, fragment in [
        ("[response]\nassert = [{path = 'status', resembles = 'ok'}]\n", "give exactly one of"),
        ("[[artifacts]]\nname = 'a.csv'\nparser = 'xlsx'\n", "parser must be one of"),
        ("[logs]\npatterns = ['(unclosed']\n", "is not a regular expression"),
        ("surprise = 1\n", "unknown keys"),
    ]:
        (work / "proof.toml").write_text(body)
        run = lf(
            "invoke-local",
            "--layer",
            str(small_layer),
            "--function-dir",
            ".",
            "--handler",
            "app.main",
            "--proof",
            "proof.toml",
        )
        failed_cleanly(run, 2, fragment, bound=15)
