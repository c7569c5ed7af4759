from __future__ import annotations

import ctypes
import importlib.util
import marshal
import subprocess
import sys
from pathlib import Path

from layerforge.builder.post.bytecode import compile_bytecode
from layerforge.builder.post.prune import prune, strip_binaries
from layerforge.events import Event
from layerforge.interpreters import probe_interpreter
from layerforge.runtimes import Architecture, get_runtime
from tests.conftest import compile_shared_library

HOST_RUNTIME = get_runtime(f"python{sys.version_info[0]}.{sys.version_info[1]}")
HOST_PYTHON = probe_interpreter(Path(sys.executable))


def _ignore(_event: Event) -> None:
    return None


def _installed_tree(root: Path) -> Path:
    for folder in (
        "pkg/tests",
        "pkg/sub/test",
        "pkg/__pycache__",
        "pkg/include",
        "pkg-1.0.dist-info/tests",
        "bin",
    ):
        (root / folder).mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "tests" / "test_x.py").write_text("x = 1\n" * 100)
    (root / "pkg" / "sub" / "test" / "t.py").write_text("y = 2\n")
    (root / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0" * 64)
    (root / "pkg" / "include" / "api.h").write_text("int f(void);\n")
    (root / "pkg" / "fast.pyx").write_text("def f(): pass\n")
    (root / "pkg" / "typing.pyi").write_text("VALUE: int\n")
    (root / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\n")
    (root / "pkg-1.0.dist-info" / "tests" / "kept").write_text("dist-info is never touched\n")
    (root / "bin" / "tool").write_text("#!/host/python\n")
    (root / "pkg" / "cli-64.exe").write_bytes(b"MZ" + b"\0" * 62)
    return root


def test_prune_drops_what_no_import_needs_and_never_touches_dist_info(tmp_path: Path) -> None:
    tree = _installed_tree(tmp_path)
    report = prune(tree)
    remaining = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert remaining == [
        "pkg-1.0.dist-info/METADATA",
        "pkg-1.0.dist-info/tests/kept",
        "pkg/__init__.py",
    ]
    assert report.files_changed == 8  # the .exe launcher too
    assert report.bytes_saved > 600


def test_bytecode_is_unchecked_hash_for_the_target_and_names_opt_python(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "__init__.py"
    source.write_text("VALUE = 'compiled'\nNAMES = {'a', 'b', 'c'}\n")
    report = compile_bytecode(
        tmp_path, tmp_path.parent / f"{tmp_path.name}.plan", HOST_RUNTIME, HOST_PYTHON
    )
    assert report.applied and report.files_changed == 1
    assert report.bytes_saved < 0  # bytecode costs bytes
    pyc = tmp_path / "pkg" / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    header = pyc.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source not checked
    # unchecked: the interpreter runs the bytecode even when the source changes afterwards
    source.write_text("VALUE = 'source'\n")
    assert marshal.loads(pyc.read_bytes()[16:]).co_filename == "/opt/python/pkg/__init__.py"
    probe = "import pkg; print(pkg.VALUE)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == ["compiled"]


def test_bytecode_is_identical_across_runs(tmp_path: Path) -> None:
    digests = []
    for run in ("one", "two"):
        folder = tmp_path / run / "pkg"
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("S = {'alpha', 'beta', 'gamma', 'delta'}\n")
        compile_bytecode(folder.parent, tmp_path / f"{run}.plan", HOST_RUNTIME, HOST_PYTHON)
        digests.append(next(folder.glob("__pycache__/*.pyc")).read_bytes())
    assert digests[0] == digests[1]


def test_missing_interpreter_is_reported_not_hidden(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\n")
    report = compile_bytecode(
        tmp_path, tmp_path.parent / f"{tmp_path.name}.plan", HOST_RUNTIME, None
    )
    assert not report.applied
    assert "without bytecode" in report.detail and "cold start" in report.detail
    assert not list(tmp_path.rglob("*.pyc"))


def test_strip_shrinks_real_shared_objects_that_still_load(tmp_path: Path) -> None:
    library = compile_shared_library(
        "int answer(void) { return 42; }\n", tmp_path / "libanswer.so", "-g"
    )
    before = library.stat().st_size
    result = strip_binaries(tmp_path, Architecture.X86_64, _ignore)
    report = result.report
    assert report.applied and report.files_changed == 1
    assert result.rewritten == frozenset({library})
    assert library.stat().st_size < before
    assert report.bytes_saved == before - library.stat().st_size
    assert ctypes.CDLL(str(library)).answer() == 42
