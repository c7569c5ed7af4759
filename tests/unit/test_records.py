"""RECORD files after the build: the truth about the layer whichever installer wrote them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from layerforge.builder.post.records import INSTALLER_NAME, normalise_records


def _rows(record: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(record.read_text())))


def _tree(root: Path, rows: list[str]) -> Path:
    info = root / "pkg-1.0.dist-info"
    info.mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "share" / "man").mkdir(parents=True)
    (root / "share" / "man" / "pkg.1").write_text("manual\n")
    (info / "METADATA").write_text("Name: pkg\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("uv\n")
    (info / "REQUESTED").write_text("")
    (info / "uv_cache.json").write_text('{"timestamp": 1}')
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    return info


def test_pip_target_rows_are_named_from_the_layer_root_and_sorted(tmp_path: Path) -> None:
    info = _tree(
        tmp_path,
        [
            "../../bin/pkg,sha256=abc,10",  # a console script: pruned with bin/
            "../../share/man/pkg.1,sha256=man,7",  # data pip moved to the target's root
            "pkg/__init__.py,sha256=init,6",
            "pkg-1.0.dist-info/RECORD,,",
            "pkg-1.0.dist-info/METADATA,sha256=meta,25",
        ],
    )
    normalise_records(tmp_path)
    names = [row[0] for row in _rows(info / "RECORD")]
    assert names == sorted(names)
    assert "share/man/pkg.1" in names and not [n for n in names if n.startswith("..")]
    assert ["share/man/pkg.1", "sha256=man", "7"] in _rows(info / "RECORD")


def test_installer_traces_of_the_build_machine_go(tmp_path: Path) -> None:
    info = _tree(tmp_path, ["pkg/__init__.py,sha256=init,6", "pkg-1.0.dist-info/RECORD,,"])
    normalise_records(tmp_path)
    assert not (info / "uv_cache.json").exists()
    assert not (info / "REQUESTED").exists()
    assert (info / "INSTALLER").read_text() == INSTALLER_NAME


def test_the_same_files_give_the_same_record_whatever_order_it_came_in(tmp_path: Path) -> None:
    rows = [
        "pkg/__init__.py,sha256=init,6",
        "share/man/pkg.1,sha256=man,7",
        "pkg-1.0.dist-info/RECORD,,",
    ]
    first = _tree(tmp_path / "a", rows)
    second = _tree(tmp_path / "b", list(reversed(rows)))
    normalise_records(tmp_path / "a")
    normalise_records(tmp_path / "b")
    assert (first / "RECORD").read_bytes() == (second / "RECORD").read_bytes()


def test_bytecode_rows_go_whatever_the_compiler_has_written_so_far(tmp_path: Path) -> None:
    # numpy 1.26.4's wheel lists a .pyc; prune removed it, the build's compiler (running beside
    # this step) may have written its own already: the row goes either way
    rows = ["pkg/__init__.py,sha256=init,6", "pkg/__pycache__/m.cpython-311.pyc,sha256=old,9"]
    early = _tree(tmp_path / "early", rows)
    late = _tree(tmp_path / "late", rows)
    (tmp_path / "late" / "pkg" / "__pycache__").mkdir()
    (tmp_path / "late" / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"compiled")
    normalise_records(tmp_path / "early")
    normalise_records(tmp_path / "late")
    assert (early / "RECORD").read_bytes() == (late / "RECORD").read_bytes()
    assert b"__pycache__" not in (late / "RECORD").read_bytes()
