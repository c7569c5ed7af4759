"""Requirements as pip reads them: pip's own parser (pip-requirements-parser, pip's code), with
nested ``-r``/``-c`` followed here (so a cycle is an error, not a hang), markers evaluated for the
target runtime, and the binary-only rule applied before anything is installed."""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from layerforge.documents import REQUIREMENT_OPTIONS, read_text, validate
from layerforge.errors import UsageError
from layerforge.inputs.markers import applies
from layerforge.inputs.remote import fetch_text
from layerforge.inputs.requirement import InputRequirement

__all__ = ["RequirementsFileContent", "binary_only", "parse_requirement", "read_requirements_file"]

_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_SOURCE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar")
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
    """The absolute path of a local wheel named by ``text`` (a path or a ``file:`` URL, relative
    to ``base``), None if it names no local path."""
    looks_like_path = text.startswith((".", "/", "~")) or "/" in text or "\\" in text
    if text.startswith("file:"):
        text = file_url_path(text, origin)
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


def file_url_path(url: str, origin: str) -> str:
    """The path a ``file:`` URL names: ``file:///abs``, ``file://localhost/abs``, or relative
    (``file:wheels/x.whl``, as lock exporters write for files beside the project)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(
            f"{origin}: {url!r} names a file on another host ({parts.netloc})",
            hint="copy the wheel to this machine and name its path",
        )
    return unquote(parts.path)


def _direct_reference(requirement: Requirement, text: str, base: Path, origin: str) -> str:
    """``name[extras] @ URL``: a wheel URL as it is; a local one (``file:`` or a bare path, as
    pip freeze and lock exporters write) checked to exist and to be ``name``'s wheel."""
    url = str(requirement.url)
    if "://" in url and not url.startswith("file:"):
        _checked_url(url, text, origin)
        requirement.marker = None
        return str(requirement)
    path = local_wheel(url if url.startswith("file:") else f"./{url}", base, origin)
    assert path is not None  # a file: URL always names a path
    try:
        wheel_name = parse_wheel_filename(Path(path).name)[0]
    except InvalidWheelFilename as exc:
        raise UsageError(f"{origin}: {text!r}: {exc}", hint="name the .whl file as built") from None
    if wheel_name != canonicalize_name(requirement.name):
        raise UsageError(
            f"{origin}: {text!r} names {requirement.name}, but {Path(path).name} is {wheel_name}",
            hint="fix the name before the @, or the path after it",
        )
    if not requirement.extras:
        return path
    return f"{requirement.name}[{','.join(sorted(requirement.extras))}] @ {Path(path).as_uri()}"


def binary_only(text: str, *, base: Path, origin: str) -> str:
    """The normalised requirement, or a UsageError when it would be built from source."""
    stripped = text.strip()
    if stripped.startswith(("-e", "--editable")):
        raise _refuse("an editable requirement", stripped, origin)
    if _VCS.match(stripped):
        raise _refuse("a VCS requirement", stripped, origin)
    if "@" in stripped and not stripped.startswith((".", "/", "~", "file:")):
        try:
            direct = Requirement(stripped)
        except InvalidRequirement:
            direct = None  # a path with an @ in it
        if direct is not None and direct.url:
            return _direct_reference(direct, stripped, base, origin)
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


@dataclass(frozen=True)
class _Source:
    """One requirements file: a local path or a URL (``-r https://...`` in a file, as pip
    fetches it), its name in messages, and what its relative names are relative to."""

    name: str
    path: Path | None = None

    @property
    def url(self) -> str | None:
        return None if self.path is not None else self.name

    @property
    def folder(self) -> Path:
        """Local paths in the file (wheels, find-links) are relative to its folder; a fetched
        file's, to the working folder (as pip takes them)."""
        return self.path.parent if self.path is not None else Path.cwd()

    def include(self, name: str, origin: str) -> _Source:
        """A file this one names with -r/-c: a URL, or a path relative to it."""
        if name.startswith(("http://", "https://")):
            return _Source(name)
        if "://" in name and not name.startswith("file:"):
            raise UsageError(
                f"{origin}: cannot read {name}: only http and https URLs are fetched",
                hint="download the file and name its path",
            )
        if self.url is not None:
            return _Source(urljoin(self.url, name))
        local = Path(file_url_path(name, self.name)) if name.startswith("file:") else Path(name)
        path = (self.folder / local.expanduser()).resolve()
        return _Source(str(path), path)

    def text(self) -> str:
        if self.path is None:
            return fetch_text(self.name, what="requirements file")
        return read_text(
            self.path, "requirements file", hint="check the path given to -r / requirements-file"
        )


def _parse(text: str, source: _Source) -> object:
    import pip_requirements_parser as parser  # 23 ms: a requirements file, never --help

    try:
        if source.path is not None:
            return parser.RequirementsFile.from_file(str(source.path), include_nested=False)
        # the parser reads files only (its from_string is broken: it never imported Path)
        with tempfile.TemporaryDirectory(prefix="layerforge-requirements-") as folder:
            fetched = Path(folder) / "requirements.txt"
            fetched.write_text(text, "utf-8")
            return parser.RequirementsFile.from_file(str(fetched), include_nested=False)
    except (parser.InstallationError, parser.RequirementsFileParseError, OSError) as exc:
        raise UsageError(f"cannot read requirements file {source.name}: {exc}") from None


class _Reader:
    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.content = RequirementsFileContent()

    def read(self, source: _Source, *, constraint: bool, chain: tuple[str, ...]) -> None:
        if source.name in chain:
            cycle = " -> ".join((*chain, source.name))
            raise UsageError(
                f"requirements files include each other: {cycle}",
                hint="remove the -r/-c line that closes the cycle",
            )
        text = source.text()
        self.content.sources.append((source.name, hashlib.sha256(text.encode()).hexdigest()))
        parsed = _parse(text, source)
        self._invalid(parsed, source)
        for option in getattr(parsed, "options", []):
            origin = option_origin(source.name, option)
            self._option(option.options, source, origin, chain=(*chain, source.name))
        for requirement in getattr(parsed, "requirements", []):
            self._requirement(requirement, source, constraint=constraint)

    def _invalid(self, parsed: object, source: _Source) -> None:
        for line in getattr(parsed, "invalid_lines", []):
            origin = option_origin(source.name, line)
            raise UsageError(
                f"{origin}: cannot parse {line.requirement_line.line!r}",
                hint=str(line.error_message).splitlines()[0],
            )

    def _option(
        self, options: dict[str, object], source: _Source, origin: str, *, chain: tuple[str, ...]
    ) -> None:
        validate(options, REQUIREMENT_OPTIONS, source=origin)
        for key, value in options.items():
            values = value if isinstance(value, list) else [value]
            if key in ("requirements", "constraints"):
                for name in values:
                    included = source.include(str(name), origin)
                    self.read(included, constraint=key == "constraints", chain=chain)
            elif key == "editables":
                raise _refuse("an editable requirement", f"-e {values[0]}", origin)
            elif key == "no_binary":
                raise UsageError(
                    f"{origin}: --no-binary asks for a build from source", hint=BINARY_HINT
                )
            else:
                self._index_option(key, values, source.folder)

    def _index_option(self, key: str, values: list[object], folder: Path) -> None:
        content = self.content
        if key == "index_url":
            content.index_url = str(values[0])
        elif key == "extra_index_urls":
            content.extra_index_urls += [str(v) for v in values]
        elif key == "find_links":
            content.find_links += [_find_link(str(v), folder) for v in values]
        elif key == "trusted_hosts":
            content.trusted_hosts += [str(v) for v in values]
        elif key == "pre":
            content.pre = True
        elif key == "no_index":
            content.no_index = True
        # only-binary, prefer-binary, require-hashes, use-feature: implied or irrelevant here

    def _requirement(self, requirement: object, source: _Source, *, constraint: bool) -> None:
        origin = option_origin(source.name, requirement)
        line = requirement.requirement_line.line  # type: ignore[attr-defined]
        if getattr(requirement, "is_editable", False):
            raise _refuse("an editable requirement", line, origin)
        marker = getattr(requirement, "marker", None)
        if not applies(marker, self.environment, origin=origin):
            return
        text = _requirement_text(requirement, line)
        normalised = binary_only(text, base=source.folder, origin=origin)
        hashes = list(getattr(requirement, "hash_options", []) or ())
        validate({"hashes": hashes}, REQUIREMENT_OPTIONS, source=origin)
        entry = InputRequirement(normalised, tuple(hashes), origin)
        (self.content.constraints if constraint else self.content.requirements).append(entry)


def _requirement_text(requirement: object, line: str) -> str:
    req = getattr(requirement, "req", None)
    link = getattr(requirement, "link", None)
    if req is None or (link is not None and not getattr(requirement, "is_name_at_url", False)):
        return str(link.url) if link is not None else line  # a bare path or URL
    return str(req)


def option_origin(name: str, item: object) -> str:
    line = getattr(getattr(item, "requirement_line", None), "line_number", None)
    return f"{name}:{line}" if line else name


def _find_link(value: str, base: Path) -> str:
    if "://" in value:
        return value
    relative = base / value
    return str(relative.resolve()) if relative.exists() else str(Path(value).resolve())


def read_requirements_file(path: Path, environment: dict[str, str]) -> RequirementsFileContent:
    """Everything ``path`` (and what it includes with -r/-c) asks for on the target."""
    reader = _Reader(environment)
    reader.read(_Source(str(path.resolve()), path.resolve()), constraint=False, chain=())
    return reader.content
