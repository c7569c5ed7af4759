"""Every module imports on its own, first, in a fresh interpreter (the pip-tools check): an
import cycle that only some import orders trip over, or a module that works only because
another loaded something first, fails here. One interpreter per module, run a few at a time
once for the whole file; each module is its own test."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from layerforge.processes import usable_cores

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("layerforge", "analytics_payload")
#: programs, not modules: ``python -m layerforge`` runs the CLI
NOT_IMPORTED = {"layerforge.__main__"}


def _modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join(parts))
    return [m for m in found if m not in NOT_IMPORTED]


MODULES = _modules()


def _import_alone(module: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def imported() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        return dict(zip(MODULES, pool.map(_import_alone, MODULES), strict=True))


def test_every_module_of_both_packages_is_found() -> None:
    assert {"layerforge.builder.pipeline", "analytics_payload.handler"} <= set(MODULES)
    assert len(MODULES) > 100


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports_first_in_a_fresh_interpreter(
    module: str, imported: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = imported[module]
    assert done.returncode == 0, f"import {module}:\n{done.stderr[-3000:]}"
