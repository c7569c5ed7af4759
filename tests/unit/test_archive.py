from __future__ import annotations

import os
import zipfile
from pathlib import Path

from layerforge.builder.archive import sha256_of, write_layer_zip
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
