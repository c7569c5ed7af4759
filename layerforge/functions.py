"""The function a layer is proven with: the bundled ``analytics_payload``, or a project's own
(``--function-dir DIR --handler module.function``, or ``--function-zip``). Either is staged as a
``/var/task`` tree for the sandbox or zipped deterministically for Lambda; and its event is
parsed here."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from layerforge.archive import ArchiveInfo, write_layer_zip
from layerforge.documents import EVENT, parse_json, validate
from layerforge.errors import UsageError
from layerforge.events import EventSink, emit_to
from layerforge.proof.spec import ProofSpec, bundled_spec

__all__ = [
    "HANDLER",
    "PACKAGE",
    "FunctionSource",
    "bundled_function",
    "function_source",
    "parse_event",
]

PACKAGE = "analytics_payload"
HANDLER = f"{PACKAGE}.handler.lambda_handler"
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
#: Lambda's limit for a function's unzipped code (without layers) is far below this.
_MAX_FUNCTION_BYTES = 262_144_000
#: Files and folders a function folder may hold (links to folders can multiply them).
_MAX_FUNCTION_ENTRIES = 100_000
#: Not function code (another issue replaces this list with .gitignore patterns).
_SKIPPED = (
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    "dist",
    "build",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
)


@dataclass(frozen=True)
class FunctionSource:
    """Where the function's code comes from, and its handler."""

    handler: str
    directory: Path | None = None
    zip_file: Path | None = None
    bundled: bool = False
    #: what --function-dir leaves out, each with why (found when the source is named)
    skipped: tuple[str, ...] = field(default=(), compare=False)

    @property
    def label(self) -> str:
        if self.bundled:
            return f"{PACKAGE} (bundled)"
        return str(self.directory or self.zip_file)

    def stage(self, destination: Path) -> Path:
        """The code as a ``/var/task`` tree in ``destination``."""
        destination.mkdir(parents=True, exist_ok=True)
        if self.zip_file is not None:
            _extract(self.zip_file, destination)
        else:
            assert self.directory is not None
            _copy_tree(self.directory, destination, bundled=self.bundled)
        for path in [destination, *destination.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        return destination

    def package(self, destination: Path, sink: EventSink | None = None) -> ArchiveInfo:
        """A deterministic deployment zip: the same sources always give the same sha256."""
        with tempfile.TemporaryDirectory(prefix="layerforge-function-") as scratch:
            staged = self.stage(Path(scratch) / "task")
            return write_layer_zip(staged, destination, prefix="", sink=emit_to(sink))

    def code(self) -> bytes:
        if self.zip_file is not None:
            return self.zip_file.read_bytes()
        with tempfile.TemporaryDirectory(prefix="layerforge-function-") as scratch:
            return self.package(Path(scratch) / "function.zip").path.read_bytes()

    def default_proof(self) -> ProofSpec:
        """The bundled function's own spec; a project function without one is checked for
        execution only (and the report says so)."""
        if self.bundled:
            return bundled_spec()
        return ProofSpec(
            notes=(
                "no proof spec: only execution is checked "
                "(declare one in [tool.layerforge.proof] or --proof)",
            )
        )

    def notes(self) -> tuple[str, ...]:
        """What the report says about the code: the entries --function-dir left out."""
        if not self.skipped:
            return ()
        return (f"--function-dir {self.directory}: left out {', '.join(self.skipped)}",)


@dataclass
class FunctionTree:
    """What a --function-dir holds as code: each file by its name in ``/var/task`` and the
    file its content comes from (a link inside the folder gives its target's content), the
    folders, and what was left out and why."""

    root: Path
    inside: Path  # the root, resolved: every link must lead inside it
    files: list[tuple[PurePosixPath, Path]] = field(default_factory=list)
    folders: list[PurePosixPath] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total: int = 0

    def refuse(self, relative: PurePosixPath, problem: str) -> UsageError:
        return UsageError(
            f"--function-dir {self.root}: {relative} {problem}",
            hint="replace the link with the files it points to, or remove it",
        )

    def add_file(self, relative: PurePosixPath, source: Path, size: int) -> None:
        if relative.suffix in (".zip", ".whl"):  # built artifacts (the layer itself), not code
            self.skipped.append(f"{relative} (a built archive)")
            return
        self.total += size
        if self.total > _MAX_FUNCTION_BYTES:
            raise UsageError(
                f"--function-dir {self.root} holds over 250 MB: not function code",
                hint="point it at the folder with your handler module",
            )
        self.files.append((relative, source))


def _target(tree: FunctionTree, path: Path, relative: PurePosixPath) -> Path:
    """Where the link ``path`` leads: inside the folder, or refused."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        shown = str(path.readlink())
        raise tree.refuse(relative, f"is a link to {shown!r}, which leads nowhere") from None
    if resolved != tree.inside and tree.inside not in resolved.parents:
        raise tree.refuse(relative, f"is a link to {resolved}, outside the folder")
    return resolved


def _visit(
    tree: FunctionTree, folder: Path, relative: PurePosixPath, seen: frozenset[Path]
) -> None:
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = relative / entry.name
        if len(tree.files) + len(tree.folders) >= _MAX_FUNCTION_ENTRIES:
            raise UsageError(f"--function-dir {tree.root} holds over 100,000 entries: not code")
        if entry.name in _SKIPPED:
            tree.skipped.append(f"{name}{'/' if entry.is_dir() else ''} (not function code)")
            continue
        path = Path(entry.path)
        source = _target(tree, path, name) if entry.is_symlink() else path
        mode = source.stat().st_mode
        if stat.S_ISDIR(mode):
            real = source.resolve()
            if real in seen:
                raise tree.refuse(name, f"is a link to {real}, which holds it (a loop)")
            tree.folders.append(name)
            _visit(tree, source, name, seen | {real})
        elif stat.S_ISREG(mode):
            tree.add_file(name, source, source.stat().st_size)
        else:
            tree.skipped.append(f"{name} (not a regular file)")


def function_tree(directory: Path) -> FunctionTree:
    """The code in ``directory``, links followed inside it; a link that leaves it, dangles or
    loops is a usage error naming it."""
    tree = FunctionTree(directory, directory.resolve())
    try:
        _visit(tree, directory, PurePosixPath(), frozenset({tree.inside}))
    except OSError as exc:
        raise UsageError(
            f"--function-dir {directory}: cannot read {exc.filename or 'it'} ({exc.strerror})",
            hint="check the folder's permissions",
        ) from None
    return tree


def _copy_tree(source: Path, destination: Path, *, bundled: bool) -> None:
    if bundled:
        package = destination / PACKAGE
        package.mkdir(parents=True, exist_ok=True)
        for item in sorted(source.glob("*.py")):
            shutil.copyfile(item, package / item.name)
        return
    tree = function_tree(source)
    for folder in tree.folders:
        (destination / folder).mkdir(parents=True, exist_ok=True)
    for relative, origin in tree.files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)


def _extract(archive_path: Path, destination: Path) -> None:
    root = destination.resolve()
    try:
        with zipfile.ZipFile(archive_path) as archive:
            total = sum(info.file_size for info in archive.infolist())
            if total > _MAX_FUNCTION_BYTES:
                raise UsageError(f"--function-zip {archive_path} unzips to over 250 MB")
            for info in archive.infolist():
                target = (destination / info.filename).resolve()
                if root != target and root not in target.parents:
                    raise UsageError(
                        f"--function-zip {archive_path}: member {info.filename!r} "
                        "would land outside /var/task"
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as reader, target.open("wb") as writer:
                    shutil.copyfileobj(reader, writer)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UsageError(f"--function-zip {archive_path} is not a readable zip: {exc}") from None


def bundled_function() -> FunctionSource:
    return FunctionSource(
        handler=HANDLER, directory=Path(str(resources.files(PACKAGE))), bundled=True
    )


def _check_handler(handler: str, directory: Path | None) -> None:
    if not _HANDLER.match(handler):
        raise UsageError(
            f"--handler {handler!r} is not module.function",
            hint="e.g. --handler app.handler.main for app/handler.py's main()",
        )
    if directory is None:
        return
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    if not (directory / f"{module}.py").is_file() and not (directory / module).is_dir():
        raise UsageError(
            f"--handler {handler}: no {module}.py in {directory}",
            hint="the handler's module must be in --function-dir",
        )


def function_source(
    function_dir: Path | None, function_zip: Path | None, handler: str | None
) -> FunctionSource:
    """The function named on the command line, or the bundled one."""
    if function_dir is None and function_zip is None:
        if handler is not None:
            raise UsageError("--handler needs --function-dir or --function-zip")
        return bundled_function()
    if function_dir is not None and function_zip is not None:
        raise UsageError("give one of --function-dir and --function-zip, not both")
    if handler is None:
        raise UsageError("a function of your own needs --handler module.function")
    if function_dir is not None and not function_dir.is_dir():
        raise UsageError(f"--function-dir {function_dir} is not a folder")
    if function_zip is not None and not function_zip.is_file():
        raise UsageError(f"--function-zip {function_zip} is not a file")
    _check_handler(handler, function_dir)
    skipped = tuple(function_tree(function_dir).skipped) if function_dir is not None else ()
    return FunctionSource(
        handler=handler, directory=function_dir, zip_file=function_zip, skipped=skipped
    )


#: An event larger than Lambda's 6 MB synchronous payload limit is not an event.
MAX_EVENT_BYTES = 6 * 2**20
DEFAULT_EVENT = {"rows": 10_000}


def parse_event(text: str | None, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """``--event``: a JSON object, or ``@file.json``; ``default`` when not given."""
    if text is None:
        return dict(DEFAULT_EVENT if default is None else default)
    source = "--event"
    if text.startswith("@"):
        path = Path(text[1:])
        source = f"--event {text}"
        try:
            if not path.is_file():
                raise UsageError(f"{source}: no such file", hint="give @ and a JSON file's path")
            if path.stat().st_size > MAX_EVENT_BYTES:
                raise UsageError(f"{source}: over Lambda's 6 MB payload limit")
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{source}: cannot read the file ({exc})") from None
    event = parse_json(text, source, hint="give a JSON object, e.g. --event '{\"rows\": 1000}'")
    validate(event, EVENT, source=source)
    return dict(event)
