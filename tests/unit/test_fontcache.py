"""The fontcache step's worker, run by the host's interpreter on hand-made layer trees: what it
does when the layer's matplotlib is not one it can make a list for (real ones: tests/integration
and tests/docker)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from layerforge.builder.post.fontcache import (
    SHIPPED,
    FontListRun,
    holds_matplotlib,
    write_font_list,
)
from layerforge.processes import run

HOST = FontListRun(run, sys.executable, "the host's python")


def _tree(root: Path, font_manager: str) -> Path:
    package = root / "python" / "matplotlib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "9.9"\n')
    (package / "font_manager.py").write_text(font_manager)
    return root / "python"


@pytest.mark.parametrize(
    ("font_manager", "reason"),
    [
        ("raise ImportError('no ft2font for this machine')\n", "did not load under"),
        ("fontManager = None\n", "no FontManager, json_dump, json_load"),
    ],
)
def test_a_matplotlib_it_cannot_make_a_list_for_gets_none(
    tmp_path: Path, font_manager: str, reason: str
) -> None:
    tree = _tree(tmp_path, font_manager)
    (tmp_path / "scratch").mkdir()
    report = write_font_list(tree, tmp_path / "scratch", HOST)
    assert not report.applied and report.bytes_saved == 0, report
    assert reason in report.detail and "no font list is shipped" in report.detail
    assert not (tree / SHIPPED).exists()
    assert not list((tmp_path / "scratch" / "fontlist").iterdir())
    assert not list(tree.rglob("__pycache__"))  # -B: nothing compiled into the layer


def test_only_a_layer_with_matplotlibs_font_manager_holds_matplotlib(tmp_path: Path) -> None:
    assert not holds_matplotlib(tmp_path)
    (tmp_path / "matplotlib").mkdir()
    assert not holds_matplotlib(tmp_path)  # a folder of that name is not matplotlib
    assert holds_matplotlib(_tree(tmp_path / "layer", ""))
