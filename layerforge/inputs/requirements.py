"""Requirements as pip reads them: pip's own parser (pip-requirements-parser, pip's code), with
nested ``-r``/``-c`` followed here (so a cycle is an error, not a hang), markers evaluated for the
target runtime, and the binary-only rule applied before anything is installed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from layerforge.errors import UsageError
from layerforge.inputs.markers import applies
from layerforge.inputs.model import InputRequirement, file_digest

__all__ = ["RequirementsFileContent", "binary_only", "parse_requirement", "read_requirements_file"]

_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_SOURCE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")
#: A requirements file larger than this is not a requirements file.
MAX_FILE_BYTES = 10 * 2**20
BINARY_HINT = (
    "layerforge builds binary-only layers and never runs a package's build: use a release "
    "with wheels, or build a wheel yourself (pip wheel ...) and list the .whl file"
)


def _refuse(what: str, text: str, origin: str) -> UsageError:
    return UsageError(
        f"{origin}: {text!r} is {what}; layerforge never builds from source", hint=BINARY_HINT
    )


def _checked_url(url: str, text: str, origin: str) -> None:
    if _VCS.match(url):
        raise _refuse("a VCS requirement", text, origin)
    path = urlsplit(url).path
    if not path.endswith(".whl"):
        kind = "a source archive" if path.endswith(_SOURCE_SUFFIXES) else "not a wheel"
        raise _refuse(kind, text, origin)


def local_wheel(text: str, base: Path, origin: str) -> str | None:
    """The absolute path of a local wheel named by ``text``, None if it names no local path."""
    looks_like_path = text.startswith((".", "/", "~")) or "/" in text or "\\" in text
    if text.startswith("file:"):
        text = urlsplit(text).path
        looks_like_path = True
    if not looks_like_path and not text.endswith((*_SOURCE_SUFFIXES, ".whl")):
        return None
    path = (base / Path(text).expanduser()).resolve()
    if not text.endswith(".whl"):
        what = "a local folder" if path.is_dir() else "a source archive or a path"
        raise _refuse(what, text, origin)
    if not path.is_file():
        raise UsageError(f"{origin}: wheel {text!r} not found ({path})", hint="check the path")
    return str(path)


def binary_only(text: str, *, base: Path, origin: str) -> str:
    """The normalised requirement, or a UsageError when it would be built from source."""
    stripped = text.strip()
    if stripped.startswith(("-e", "--editable")):
        raise _refuse("an editable requirement", stripped, origin)
    if _VCS.match(stripped):
        raise _refuse("a VCS requirement", stripped, origin)
    wheel = local_wheel(stripped, base, origin)
    if wheel is not None:
        return wheel
    requirement = parse_requirement(stripped, origin=origin)
    if requirement.url:
        _checked_url(requirement.url, stripped, origin)
    requirement.marker = None
    return str(requirement)


def parse_requirement(text: str, *, origin: str = "command line") -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise UsageError(
            f"cannot parse requirement {text!r} ({origin})",
            hint=f"write it as pip would accept it, e.g. 'numpy==1.26.4': {exc}",
        ) from None


@dataclass
class RequirementsFileContent:
    """What one requirements file (and the files it includes) contributes."""

    requirements: list[InputRequirement] = field(default_factory=list)
    constraints: list[InputRequirement] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    trusted_hosts: list[str] = field(default_factory=list)
    pre: bool = False
    no_index: bool = False
    sources: list[tuple[str, str]] = field(default_factory=list)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise UsageError(
            f"cannot read requirements file {path}: no such file",
            hint="check the path given to -r / requirements-file",
        )
    if not path.is_file():
        raise UsageError(
            f"cannot read requirements file {path}: not a regular file",
            hint="give the path of a requirements file",
        )
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is over {MAX_FILE_BYTES // 2**20} MiB: not a requirements file")
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{path} is not a text file (not UTF-8)",
            hint="give a requirements file as pip reads it",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read requirements file {path}: {exc.strerror}") from None


def _parse(path: Path) -> object:
    import pip_requirements_parser as parser

    try:
        return parser.RequirementsFile.from_file(str(path), include_nested=False)
    except (parser.InstallationError, parser.RequirementsFileParseError, OSError) as exc:
        raise UsageError(f"cannot read requirements file {path}: {exc}") from None


class _Reader:
    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.content = RequirementsFileContent()

    def read(self, path: Path, *, constraint: bool, chain: tuple[Path, ...]) -> None:
        path = path.resolve()
        if path in chain:
            cycle = " -> ".join(str(p) for p in (*chain, path))
            raise UsageError(
                f"requirements files include each other: {cycle}",
                hint="remove the -r/-c line that closes the cycle",
            )
        _check_readable(path)
        self.content.sources.append((str(path), file_digest(path)))
        parsed = _parse(path)
        self._invalid(parsed)
        for option in getattr(parsed, "options", []):
            self._option(option.options, path, option_origin(path, option), chain=(*chain, path))
        for requirement in getattr(parsed, "requirements", []):
            self._requirement(requirement, path, constraint=constraint)

    def _invalid(self, parsed: object) -> None:
        for line in getattr(parsed, "invalid_lines", []):
            origin = option_origin(Path(line.requirement_line.filename), line)
            raise UsageError(
                f"{origin}: cannot parse {line.requirement_line.line!r}",
                hint=str(line.error_message).splitlines()[0],
            )

    def _option(
        self, options: dict[str, object], path: Path, origin: str, *, chain: tuple[Path, ...]
    ) -> None:
        for key, value in options.items():
            values = value if isinstance(value, list) else [value]
            if key in ("requirements", "constraints"):
                for name in values:
                    self.read(path.parent / str(name), constraint=key == "constraints", chain=chain)
            elif key == "editables":
                raise _refuse("an editable requirement", f"-e {values[0]}", origin)
            elif key == "no_binary":
                raise UsageError(
                    f"{origin}: --no-binary asks for a build from source", hint=BINARY_HINT
                )
            else:
                self._index_option(key, values, path, origin)

    def _index_option(self, key: str, values: list[object], path: Path, origin: str) -> None:
        content = self.content
        if key == "index_url":
            content.index_url = str(values[0])
        elif key == "extra_index_urls":
            content.extra_index_urls += [str(v) for v in values]
        elif key == "find_links":
            content.find_links += [_find_link(str(v), path.parent) for v in values]
        elif key == "trusted_hosts":
            content.trusted_hosts += [str(v) for v in values]
        elif key == "pre":
            content.pre = True
        elif key == "no_index":
            content.no_index = True
        # only-binary, prefer-binary, require-hashes, use-feature: implied or irrelevant here

    def _requirement(self, requirement: object, path: Path, *, constraint: bool) -> None:
        origin = option_origin(path, requirement)
        line = requirement.requirement_line.line  # type: ignore[attr-defined]
        if getattr(requirement, "is_editable", False):
            raise _refuse("an editable requirement", line, origin)
        marker = getattr(requirement, "marker", None)
        if not applies(marker, self.environment, origin=origin):
            return
        text = _requirement_text(requirement, line)
        normalised = binary_only(text, base=path.parent, origin=origin)
        hashes = tuple(getattr(requirement, "hash_options", []) or ())
        entry = InputRequirement(normalised, hashes, origin)
        (self.content.constraints if constraint else self.content.requirements).append(entry)


def _requirement_text(requirement: object, line: str) -> str:
    req = getattr(requirement, "req", None)
    link = getattr(requirement, "link", None)
    if req is None or (link is not None and not getattr(requirement, "is_name_at_url", False)):
        return str(link.url) if link is not None else line  # a bare path or URL
    return str(req)


def option_origin(path: Path, item: object) -> str:
    line = getattr(getattr(item, "requirement_line", None), "line_number", None)
    return f"{path}:{line}" if line else str(path)


def _find_link(value: str, base: Path) -> str:
    if "://" in value:
        return value
    relative = base / value
    return str(relative.resolve()) if relative.exists() else str(Path(value).resolve())


def read_requirements_file(path: Path, environment: dict[str, str]) -> RequirementsFileContent:
    """Everything ``path`` (and what it includes with -r/-c) asks for on the target."""
    reader = _Reader(environment)
    reader.read(path, constraint=False, chain=())
    return reader.content
