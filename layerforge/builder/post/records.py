"""RECORD files that tell the truth about the layer: rows for files the build removed are
dropped, rows for files it rewrote (stripped binaries) carry their new hash and size, and
metadata that names the build machine or installer (``direct_url.json`` of a local file or a
wheel URL, uv's ``uv_cache.json``, INSTALLER, REQUESTED) is normalised; rows are named from the
layer's root and sorted. The same wheels then always give the same bytes, whichever backend,
installer (pip, uv, or pip's choice unpacked by uv) or virtualenv path built them."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import posixpath
from pathlib import Path

from layerforge.builder.post.prune import PYCACHE
from layerforge.builder.result import StepReport

__all__ = ["INSTALLER_NAME", "normalise_records"]

INSTALLER_NAME = "layerforge\n"


def _hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _wheel_direct_url(path: Path) -> bool:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(document, dict):
        return False
    return str(document.get("url", "")).startswith("file:") or "archive_info" in document


def _normalise_metadata(dist_info: Path) -> None:
    direct_url = dist_info / "direct_url.json"
    if direct_url.is_file() and _wheel_direct_url(direct_url):
        # a local path names the build machine; a wheel's URL (a pylock's, a name @ URL) is
        # written by pip and uv installing it, not by uv installing pip's download of it: the
        # manifest records the wheel and its sha256 either way
        direct_url.unlink()
    # uv's marker of where in its cache a local wheel was unpacked: a fact of the build machine
    (dist_info / "uv_cache.json").unlink(missing_ok=True)
    installer = dist_info / "INSTALLER"
    if installer.is_file():
        installer.write_text(INSTALLER_NAME, "ascii")
    # which distributions a user named is a fact of the build (the manifest has it), not of
    # the layer; installers disagree on it (uv marks every distribution), so it goes
    (dist_info / "REQUESTED").unlink(missing_ok=True)


#: pip --target installs into ``<home>/lib/python`` and moves ``<home>``'s contents to the
#: target, so its RECORD names scripts and data files (``share/...``) as ``../../...``
_PIP_HOME = "../../"


def _rows(tree: Path, record: Path, rewritten: frozenset[Path]) -> tuple[list[list[str]], int]:
    """The RECORD's rows for files that exist, named from the layer's root (where pip's
    ``../../`` rows really are), with hash and size refreshed where needed, sorted by path."""
    rows, changed = [], 0
    text = record.read_text("utf-8", "replace")
    own = record.relative_to(tree).as_posix()
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        name, relative = row[0], posixpath.normpath(row[0])
        if relative.startswith(_PIP_HOME):
            name = relative = relative[len(_PIP_HOME) :]
        path = tree / relative
        if relative == own:
            rows.append([own, "", ""])
            continue
        # bytecode is the build's own, compiled while this runs: a wheel's stray __pycache__
        # rows (pruned with their files) are dropped whatever the compiler has written so far
        if relative.startswith("../") or PYCACHE in relative.split("/") or not path.is_file():
            changed += 1
            continue
        size = str(path.stat().st_size)
        if path in rewritten or (len(row) > 2 and row[2] and row[2] != size):
            rows.append([name, _hash(path), size])
            changed += 1
        else:
            changed += name != row[0]
            rows.append([name, *row[1:3], *[""] * (2 - len(row[1:3]))])
    return sorted(rows, key=lambda r: r[0]), changed


def normalise_records(tree: Path, rewritten: frozenset[Path] = frozenset()) -> StepReport:
    """Rewrite every ``*.dist-info/RECORD`` below ``tree`` (``rewritten``: files the build
    changed in place, such as stripped binaries)."""
    changed = 0
    for dist_info in sorted(tree.glob("*.dist-info")):
        _normalise_metadata(dist_info)
        record = dist_info / "RECORD"
        if not record.is_file():
            continue
        rows, count = _rows(tree, record, rewritten)
        changed += count
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        record.write_text(buffer.getvalue(), "utf-8")
    detail = f"{changed} rows dropped or refreshed (pruned and stripped files)"
    return StepReport("record", 0, changed, detail)
