"""Session-wide real artifacts: the seed layer is built once, through the CLI, and shared."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layerforge.cli import main

SEED_PINS = ["numpy==1.26.4", "pandas==1.5.3", "matplotlib==3.8.4", "seaborn==0.12.2"]


@pytest.fixture(scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("layerforge-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERFORGE_CACHE_DIR", str(folder))
        patch.chdir(folder)
        yield folder


@pytest.fixture(scope="session")
def seed_build(private_cache: Path) -> dict[str, Any]:
    """The default build (payload pins, python3.11, x86_64), made once through the CLI."""
    output = private_cache / "dist" / "seed.zip"
    assert main(["build", "--json", "--output", str(output)]) == 0
    manifest: dict[str, Any] = json.loads(output.with_name("seed.manifest.json").read_text())
    return manifest


@pytest.fixture(scope="session")
def plain_recipe_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed pins installed the way AWS documents it: pip --platform manylinux2014 -t python/."""
    root = tmp_path_factory.mktemp("plain-recipe")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--platform", "manylinux2014_x86_64",
         "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.11",
         "--target", str(root / "python"), *SEED_PINS],
        check=True,
    )  # fmt: skip
    return root
