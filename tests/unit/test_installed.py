"""The suite tests layerforge as users install it (CI installs it into a virtualenv)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import layerforge


@pytest.mark.skipif(not os.environ.get("LAYERFORGE_TEST_INSTALLED"), reason="CI installs it")
def test_the_installed_package_is_the_one_under_test() -> None:
    checkout = Path(__file__).resolve().parents[2]
    installed = Path(layerforge.__file__).resolve()
    assert checkout not in installed.parents, installed
    for data in ("abi-policy.json", "runtimes.json", "prune-policy.json"):
        assert (installed.parent / "data" / data).is_file()
    assert (installed.parent / "_scripts" / "smoke_harness.py").is_file()
