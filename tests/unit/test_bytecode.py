"""The bytecode workers: the same bytes as ``python -m compileall`` with the same options, work
shared out by size, every module compiled once, failures reported, an interrupted compile
stopped with its whole process group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from layerforge.builder.post.bytecode import (
    BYTECODE_ENVIRONMENT,
    LAMBDA_LAYER_ROOT,
    compile_bytecode,
    start_bytecode,
    write_plan,
)
from layerforge.interpreters import probe_interpreter
from layerforge.runtimes import get_runtime

HOST_RUNTIME = get_runtime(f"python{sys.version_info[0]}.{sys.version_info[1]}")
HOST_PYTHON = probe_interpreter(Path(sys.executable))


def _package(root: Path, modules: int = 12) -> Path:
    for index in range(modules):
        folder = root / "pkg" / f"sub{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        body = f"VALUE = {index}\nNAMES = frozenset({{'a', 'b', 'c', '{index}'}})\n"
        (folder / f"m{index}.py").write_text(body * (index + 1))
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "data.txt").write_text("not python\n")
    return root


def _pycs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


def test_workers_write_the_bytes_compileall_writes(tmp_path: Path) -> None:
    ours = _package(tmp_path / "ours")
    theirs = _package(tmp_path / "theirs")
    report = compile_bytecode(ours, tmp_path / "plan.json", HOST_RUNTIME, HOST_PYTHON)
    command = [
        sys.executable,
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(theirs),
        "-p",
        LAMBDA_LAYER_ROOT,
        str(theirs),
    ]
    subprocess.run(command, check=True, env={**os.environ, **BYTECODE_ENVIRONMENT})
    assert _pycs(ours) == _pycs(theirs)
    assert len(_pycs(ours)) == report.files_changed == 13
    assert report.bytes_saved == -sum(len(b) for b in _pycs(ours).values())


def test_the_plan_shares_modules_by_size_and_names_each_once(tmp_path: Path) -> None:
    tree = _package(tmp_path / "tree")
    plan = json.loads(
        write_plan(tree, tmp_path / "plan.json", root="/inside", workers=2).read_text()
    )
    assert plan["root"] == "/inside" and plan["prefix"] == LAMBDA_LAYER_ROOT
    names = [name for worker in plan["workers"] for name in worker]
    assert sorted(names) == sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.py"))
    loads = [sum((tree / name).stat().st_size for name in w) for w in plan["workers"]]
    assert len(loads) == 2 and max(loads) - min(loads) <= max(
        p.stat().st_size for p in tree.rglob("*.py")
    )


def test_a_module_that_does_not_compile_is_counted_not_fatal(tmp_path: Path) -> None:
    tree = _package(tmp_path / "tree")
    (tree / "pkg" / "broken.py").write_text("def f(:\n")
    report = compile_bytecode(tree, tmp_path / "plan.json", HOST_RUNTIME, HOST_PYTHON)
    assert report.files_changed == 13
    assert "1 files did not compile" in report.detail


def test_stopping_a_compile_leaves_no_process(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for index in range(40):  # enough work to still be running when stopped
        (tree / f"m{index}.py").write_text("x = [1, 2, 3]\n" * 20000)
    job = start_bytecode(tree, tmp_path / "plan.json", HOST_RUNTIME, HOST_PYTHON)
    time.sleep(0.3)
    leader = job.command.process.pid  # type: ignore[attr-defined]
    job.stop()
    deadline = time.monotonic() + 5  # killed workers are reaped by init a moment later
    while time.monotonic() < deadline:
        try:
            os.killpg(leader, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("the compile's process group outlived stop()")
