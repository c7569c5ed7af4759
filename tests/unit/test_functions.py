"""--function-dir: links inside the folder are followed (their targets' content is the code),
links leaving it, dangling or looping are usage errors naming them, and what is left out is
said."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from layerforge.errors import UsageError
from layerforge.functions import function_source, function_tree


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "lib").mkdir(parents=True)
    (root / "src" / "handler.py").write_text("def main(event, context):\n    return {}\n")
    (root / "src" / "lib" / "util.py").write_text("X = 1\n")
    (root / "app.py").symlink_to("src/handler.py")
    (root / "lib").symlink_to(root / "src" / "lib")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "__pycache__").mkdir()
    (root / "layer.zip").write_bytes(b"PK")
    os.mkfifo(root / "pipe")
    return root


def test_links_inside_the_folder_are_zipped_as_their_content(tmp_path: Path) -> None:
    root = _project(tmp_path)
    source = function_source(root, None, "app.main")
    info = source.package(tmp_path / "function.zip")
    with zipfile.ZipFile(info.path) as archive:
        members = {i.filename: i for i in archive.infolist()}
        assert archive.read("app.py") == (root / "src" / "handler.py").read_bytes()
        assert archive.read("lib/util.py") == b"X = 1\n"
    assert not any(
        name.startswith((".git", "__pycache__", "layer.zip", "pipe")) for name in members
    )
    assert all((i.external_attr >> 28) != 0o12 for i in members.values())  # no link entries
    assert source.skipped == (
        ".git/ (not function code)",
        "__pycache__/ (not function code)",
        "layer.zip (a built archive)",
        "pipe (not a regular file)",
    )
    (note,) = source.notes()
    assert note.startswith(f"--function-dir {root}: left out .git/") and "pipe" in note


def test_the_same_sources_give_the_same_zip(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = function_source(root, None, "app.main").package(tmp_path / "a.zip")
    second = function_source(root, None, "app.main").package(tmp_path / "b.zip")
    assert first.sha256 == second.sha256


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda root: (root / "passwd").symlink_to("/etc/passwd"), "passwd is a link to"),
        (lambda root: (root / "up").symlink_to(".."), "outside the folder"),
        (lambda root: (root / "src" / "gone.py").symlink_to("nowhere.py"), "leads nowhere"),
        (lambda root: (root / "self").symlink_to("self"), "leads nowhere"),
        (lambda root: (root / "src" / "again").symlink_to(root / "src"), "(a loop)"),
        (lambda root: (root / "dot").symlink_to("."), "(a loop)"),
    ],
)
def test_links_that_leave_dangle_or_loop_are_refused(
    tmp_path: Path, make: Callable[[Path], None], fragment: str
) -> None:
    root = _project(tmp_path)
    make(root)
    with pytest.raises(UsageError) as caught:
        function_source(root, None, "app.main")
    assert fragment in caught.value.message, caught.value.message
    assert caught.value.exit_code == 2


def test_a_skipped_link_leaving_the_folder_is_not_followed(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / ".venv").symlink_to("/usr")
    assert ".venv/ (not function code)" in function_tree(root).skipped
