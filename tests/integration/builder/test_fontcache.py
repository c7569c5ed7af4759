"""The font list a layer with matplotlib ships (the ``fontcache`` step), from real builds: the
seed layer's, made by its own matplotlib; and none, said so, where it cannot be made exactly."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.builder.post.fontcache import SHIPPED, FontListRun, write_font_list
from layerforge.cli import main
from layerforge.interpreters import find_interpreter
from layerforge.processes import run
from tests.conftest import json_document, make_wheel

pytestmark = [pytest.mark.network, pytest.mark.slow]

FONT_LIST = f"python/{SHIPPED}/fontlist-v330.json"  # matplotlib 3.8.4's FontManager.__version__
DATA = "python/matplotlib/mpl-data/"


def _step(document: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in document["steps"] if s["name"] == "fontcache"), None)


def test_the_seed_layer_ships_the_font_list_of_its_own_matplotlib(
    seed_build: dict[str, Any],
) -> None:
    with zipfile.ZipFile(seed_build["output"]) as archive:
        names = set(archive.namelist())
        shipped = archive.read(FONT_LIST)
    step = _step(seed_build)
    assert step is not None and step["applied"], seed_build["steps"]
    assert step["bytes_saved"] == -len(shipped) and step["files_changed"] == 1
    made = "fontlist-v330.json of matplotlib 3.8.4 (its own 38 TrueType and 60 AFM fonts)"
    assert step["detail"].startswith(made)
    assert step["seconds"] > 0 and seed_build["timings"]["fontcache"] > 0
    fonts = json.loads(shipped)
    assert fonts["_version"] == 330 and fonts["defaultFamily"]["ttf"] == "DejaVu Sans"
    for kind in ("ttflist", "afmlist"):
        paths = [entry["fname"] for entry in fonts[kind]]
        assert paths == sorted(paths)
        # matplotlib's own fonts only (the build machine's are not Lambda's), named as the
        # matplotlib at /opt/python/matplotlib names them: from its mpl-data folder
        assert all(f"{DATA}{path}" in names for path in paths), paths
    assert "DejaVu Sans" in {entry["name"] for entry in fonts["ttflist"]}
    assert not [n for n in names if n.startswith("python/.layerforge/") and n != FONT_LIST]


def test_the_list_is_the_same_bytes_from_any_folder_and_the_tree_is_left_as_it_was(
    seed_build: dict[str, Any], tmp_path: Path
) -> None:
    python311 = find_interpreter((3, 11))
    assert python311 is not None, "the seed layer's interpreter builds it"
    root = tmp_path / "another build folder"  # another path, another hash seed
    with zipfile.ZipFile(seed_build["output"]) as archive:
        shipped = archive.read(FONT_LIST)
        archive.extractall(root, [n for n in archive.namelist() if n != FONT_LIST])
    tree = root / "python"

    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            p.relative_to(tree).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in tree.rglob("*")
        }

    before = snapshot()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    report = write_font_list(tree, scratch, FontListRun(run, python311.path, "python3.11"))
    assert report.applied, report.detail
    assert (tree / SHIPPED / "fontlist-v330.json").read_bytes() == shipped
    after = snapshot()
    added = {".layerforge", SHIPPED, f"{SHIPPED}/fontlist-v330.json"}
    assert set(after) - set(before) == added  # no bytecode or anything else written
    assert {k: v for k, v in after.items() if k not in added} == before


def test_a_layer_without_matplotlib_gets_nothing(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "six.zip"
    code = main(["build", "six==1.17.0", "--backend", "cross", "--json", "-o", str(output)])
    document = json_document(capsys.readouterr().out)
    assert code == 0, document
    assert _step(document) is None and "fontcache" not in document["timings"]
    assert not [w for w in document["warnings"] if "font list" in w]
    with zipfile.ZipFile(output) as archive:
        assert not [n for n in archive.namelist() if ".layerforge" in n]


@pytest.fixture(scope="module")
def unknown_matplotlib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matplotlib whose font manager keeps no font list (as no real 3.x does)."""
    folder = tmp_path_factory.mktemp("wheels")
    font_manager = (
        b"class FontManager:\n    __version__ = 1\n"
        b"def json_dump(data, filename):\n    pass\n"
        b"def json_load(filename):\n    return FontManager()\n"
        b"fontManager = FontManager()\n"
    )
    modules = {
        "matplotlib/__init__.py": b'__version__ = "0.0.1"\n',
        "matplotlib/font_manager.py": font_manager,
    }
    make_wheel(folder, "matplotlib", "0.0.1", modules)
    return folder


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (["--runtime", "python3.11"], "matplotlib 0.0.1 does not keep its font list"),
        (["--runtime", "python3.14"], "no python3.14 on this host to load the layer's matplotlib"),
        (["--arch", "arm64"], "the layer's matplotlib is aarch64 code and this host runs x86_64"),
    ],
    ids=["unknown-matplotlib", "no-interpreter", "foreign-architecture"],
)
def test_where_the_list_cannot_be_made_exactly_none_is_shipped_and_the_build_says_so(
    unknown_matplotlib: Path,
    target: list[str],
    reason: str,
    tmp_path: Path,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if target[-1] == "python3.14" and find_interpreter((3, 14)) is not None:
        pytest.skip("this host has a python3.14: the case needs a host without one")
    output = tmp_path / "layer.zip"
    argv = ["build", "matplotlib==0.0.1", "--find-links", str(unknown_matplotlib), *target]
    code = main([*argv, "--backend", "cross", "--json", "-o", str(output)])
    captured = capsys.readouterr()
    document = json_document(captured.out)
    assert code == 0, document
    step = _step(document)
    assert step is not None and not step["applied"] and step["bytes_saved"] == 0
    assert step["detail"].startswith("skipped: ") and reason in step["detail"], step["detail"]
    assert "no font list is shipped" in step["detail"]
    assert step["detail"] in document["warnings"]
    with zipfile.ZipFile(output) as archive:
        assert not [n for n in archive.namelist() if ".layerforge" in n]


def test_a_current_matplotlib_for_python312_ships_its_own_list(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """matplotlib 3.10: another list version (390), and font entries that cannot be changed
    in place (frozen dataclasses)."""
    if find_interpreter((3, 12)) is None:
        pytest.skip("needs a python3.12 on this host to load the layer's matplotlib")
    output = tmp_path / "layer.zip"
    argv = ["build", "matplotlib==3.10.3", "--runtime", "python3.12", "--backend", "cross"]
    code = main([*argv, "--json", "-o", str(output)])
    document = json_document(capsys.readouterr().out)
    assert code == 0, document
    step = _step(document)
    assert step is not None and step["applied"], document["steps"]
    assert step["detail"].startswith("fontlist-v390.json of matplotlib 3.10.3 (its own 38")
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
        fonts = json.loads(archive.read(f"python/{SHIPPED}/fontlist-v390.json"))
    paths = [entry["fname"] for entry in fonts["ttflist"] + fonts["afmlist"]]
    assert paths and all(f"{DATA}{path}" in names for path in paths)
