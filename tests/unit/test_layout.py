"""Every test module is collected: pytest's own ``norecursedirs`` (``build``, ``dist``,
``venv``, hidden folders ...) would silently skip a folder named like one."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_folder_is_one_pytest_skips(pytestconfig: pytest.Config) -> None:
    skipped = pytestconfig.getini("norecursedirs")
    folders = [p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__"]
    assert folders
    for folder in folders:
        assert not any(fnmatch.fnmatch(folder.name, pattern) for pattern in skipped), folder
