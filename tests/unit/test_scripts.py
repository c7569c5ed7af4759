"""The programs another interpreter runs (``layerforge/_scripts/``: the target runtime's
Python, the sandbox's) are standalone: standard library only, nothing from layerforge, and
syntax the oldest Lambda runtime's Python (3.9) reads. layerforge hands them over as text and
never imports them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from layerforge._scripts import script_source

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "layerforge" / "_scripts"
PROGRAMS = sorted(p.name for p in SCRIPTS.glob("*.py") if p.name != "__init__.py")
OLDEST_RUNTIME_PYTHON = (3, 9)


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import needs a package"
            roots.add((node.module or "").split(".")[0])
    return roots


def test_the_programs_are_there() -> None:
    assert PROGRAMS == [
        "bytecode_worker.py",
        "fontcache_worker.py",  # imports the layer's own matplotlib by name, at run time
        "lambda_runner.py",
        "smoke_harness.py",
    ]


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_program_imports_only_the_standard_library(name: str) -> None:
    tree = ast.parse(script_source(name), name, feature_version=OLDEST_RUNTIME_PYTHON)
    outside = {r for r in _imported_roots(tree) if r not in sys.stdlib_module_names}
    assert outside - {"__future__"} == set(), f"{name} imports {sorted(outside)}"


def test_layerforge_never_imports_a_program() -> None:
    """They are run, not imported: importing one would run it under the wrong interpreter."""
    programs = {f"layerforge._scripts.{name.removesuffix('.py')}" for name in PROGRAMS}
    for path in sorted((ROOT / "layerforge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "layerforge._scripts":
                names = {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = {a.name for a in node.names} | {getattr(node, "module", None) or ""}
            else:
                continue
            assert not names & programs, f"{path} imports {sorted(names & programs)}"
