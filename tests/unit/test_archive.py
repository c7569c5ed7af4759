from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from layerforge.archive import sha256_of, write_layer_zip
from layerforge.events import Event


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "data.bin").write_bytes(bytes(range(256)) * 10)
    tool = root / "pkg" / "tool.so"
    tool.write_bytes(b"\x7fELF" + b"\0" * 100)
    tool.chmod(0o775)
    (root / "pkg-1.0.dist-info").mkdir()
    (root / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\nVersion: 1.0\n")
    return root


def _ignore(_event: Event) -> None:
    return None


def test_same_tree_gives_byte_identical_zip_whatever_the_times_and_modes(tmp_path: Path) -> None:
    first = write_layer_zip(_tree(tmp_path / "a"), tmp_path / "a.zip", sink=_ignore)
    second_tree = _tree(tmp_path / "b")
    for path in second_tree.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    (second_tree / "pkg" / "__init__.py").chmod(0o600)
    second = write_layer_zip(second_tree, tmp_path / "b.zip", sink=_ignore)
    assert first.sha256 == second.sha256 == sha256_of(tmp_path / "a.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_entries_are_sorted_under_python_with_fixed_time_and_normal_modes(tmp_path: Path) -> None:
    info = write_layer_zip(_tree(tmp_path / "t"), tmp_path / "l.zip", sink=_ignore)
    with zipfile.ZipFile(info.path) as archive:
        entries = archive.infolist()
    names = [e.filename for e in entries]
    assert names == sorted(names)
    assert names[0] == "python/pkg-1.0.dist-info/METADATA"
    assert all(name.startswith("python/") for name in names)
    assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}
    modes = {e.filename: (e.external_attr >> 16) & 0o777 for e in entries}
    assert modes["python/pkg/tool.so"] == 0o755
    assert modes["python/pkg/__init__.py"] == 0o644
    assert info.file_count == 4
    assert info.unzipped_bytes == sum(e.file_size for e in entries)


def _varied_tree(root: Path, files: int) -> Path:
    """Files of many sizes (empty, tiny, compressible, incompressible), non-ASCII names."""
    for index in range(files):
        folder = root / f"pkg{index % 7}" / ("daten-ü" if index % 11 == 0 else "sub")
        folder.mkdir(parents=True, exist_ok=True)
        size = (index * 7919) % 70_000
        body = os.urandom(size // 3) + bytes(index % 251 for _ in range(size - size // 3))
        (folder / f"m{index:05d}.py").write_bytes(body)
    (root / "empty.txt").write_bytes(b"")
    return root


def test_parallel_and_serial_deflate_write_the_same_bytes(tmp_path: Path) -> None:
    tree = _varied_tree(tmp_path / "t", 600)
    serial = write_layer_zip(tree, tmp_path / "serial.zip", sink=_ignore, workers=1)
    for workers in (2, 5):
        parallel = write_layer_zip(
            tree, tmp_path / f"p{workers}.zip", sink=_ignore, workers=workers
        )
        assert parallel.sha256 == serial.sha256
        assert (tmp_path / f"p{workers}.zip").read_bytes() == (tmp_path / "serial.zip").read_bytes()
    assert serial.sha256 == sha256_of(serial.path)
    assert serial.zipped_bytes == serial.path.stat().st_size
    with zipfile.ZipFile(serial.path) as archive:
        assert archive.testzip() is None  # every member's CRC checks out
        names = archive.namelist()
        assert any("daten-ü" in name for name in names)
        first = names[0]
        assert archive.read(first) == (tree / first.removeprefix("python/")).read_bytes()
        assert archive.getinfo("python/empty.txt").file_size == 0


@pytest.mark.slow  # 65,600 files written and zipped: tens of seconds on a loaded machine
def test_more_than_65535_entries_get_zip64_end_records(tmp_path: Path) -> None:
    tree = tmp_path / "many"
    for index in range(65_600):
        folder = tree / f"d{index // 1000:03d}"
        if index % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"{index}.txt").write_bytes(b"x")
    info = write_layer_zip(tree, tmp_path / "many.zip", sink=_ignore)
    with zipfile.ZipFile(info.path) as archive:
        assert len(archive.infolist()) == 65_600 == info.file_count
        assert archive.read("python/d065/65599.txt") == b"x"
