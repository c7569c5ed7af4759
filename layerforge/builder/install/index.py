"""Questions to the package index: which releases exist, and which fit. PEP 691 JSON where the
index offers it, PEP 503 HTML otherwise (many private indexes serve only HTML)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from layerforge.errors import BuildError

__all__ = [
    "DEFAULT_INDEX_URL",
    "PackageIndex",
    "PinCheck",
    "ReleaseSummary",
    "Sources",
    "parse_simple_html",
]

DEFAULT_INDEX_URL = "https://pypi.org/simple"
_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
#: A project page larger than this is not an index page.
_MAX_PAGE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ReleaseSummary:
    """The newest release of a project, and the newest one with a wheel for the target."""

    name: str
    latest: Version | None
    latest_compatible: Version | None
    any_matching: bool = True  # some release satisfies the requirement's specifier
    matching_compatible: bool = True  # ... and has a wheel for the target


@dataclass(frozen=True)
class PinCheck:
    """What the sources say about one requirement for the target: whether the project and a
    release satisfying the specifier exist, whether such a release has wheels (for any
    platform, for the target), the newest releases, and the target's files of the newest
    release the requirement would take, with the sha256 the index lists (None: not listed)."""

    name: str
    known: bool
    matching: bool
    matching_wheels: bool
    matching_compatible: bool
    newest: Version | None
    newest_compatible: Version | None
    chosen: Version | None = None
    chosen_files: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class _File:
    filename: str
    version: Version
    wheel: bool
    requires_python: str | None
    sha256: str | None = None
    yanked: bool = False

    def fits(self, accepted: frozenset[Tag]) -> bool:
        """A wheel with a tag in ``accepted`` (tags are parsed only for files asked about:
        a project page lists thousands of files, and the newest compatible one is near the
        top)."""
        if not self.wheel:
            return False
        try:
            return not parse_wheel_filename(self.filename)[3].isdisjoint(accepted)
        except InvalidWheelFilename:
            return False


@lru_cache(maxsize=4096)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


class _Anchors(HTMLParser):
    """The anchors of a PEP 503 project page, as PEP 691 file entries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.files: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        values = dict(attrs)
        href = values.get("href") or ""
        filename = unquote(urlsplit(href).path.rsplit("/", 1)[-1])
        entry: dict[str, object] = {"filename": filename, "url": href}
        if values.get("data-requires-python"):
            entry["requires-python"] = values["data-requires-python"]
        if "data-yanked" in values:
            entry["yanked"] = values["data-yanked"] or True
        self.files.append(entry)


def parse_simple_html(text: str) -> list[dict[str, object]]:
    parser = _Anchors()
    parser.feed(text)
    return parser.files


def _sha256(entry: dict[str, object]) -> str | None:
    """The file's sha256 as the index lists it: PEP 691's ``hashes``, PEP 503's URL fragment."""
    hashes = entry.get("hashes")
    if isinstance(hashes, dict) and isinstance(hashes.get("sha256"), str):
        return str(hashes["sha256"]).lower()
    fragment = urlsplit(str(entry.get("url", ""))).fragment
    name, _, value = fragment.partition("=")
    return value.lower() if name == "sha256" and value else None


def _parse_file(entry: dict[str, object]) -> _File | None:
    filename = str(entry.get("filename", ""))
    requires = entry.get("requires-python")
    requires_python = str(requires) if requires else None
    sha256, yanked = _sha256(entry), bool(entry.get("yanked"))
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        version = _version(parts[1]) if len(parts) in (5, 6) else None
        if version is None:
            return None
        return _File(filename, version, True, requires_python, sha256, yanked)
    if filename.endswith((".tar.gz", ".zip")):
        try:
            _, version = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            return None
        return _File(filename, version, False, requires_python, sha256, yanked)
    return None


@lru_cache(maxsize=1024)
def _python_ok(requires_python: str | None, python: str) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


def _decode(body: bytes, content_type: str, url: str) -> list[dict[str, object]]:
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        document: Any = json.loads(text)
        files = document.get("files", []) if isinstance(document, dict) else []
        return [f for f in files if isinstance(f, dict)]
    if "html" in content_type or text.lstrip().startswith("<"):
        return parse_simple_html(text)
    raise ValueError(f"{url} answered {content_type or 'an unknown type'}, not an index page")


def _gunzip(body: bytes) -> bytes:
    """A gzip-encoded page, at most ``_MAX_PAGE_BYTES`` once inflated (no page is bigger)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = inflater.decompress(body, _MAX_PAGE_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"an index page over {_MAX_PAGE_BYTES} bytes")
    return text


@cache
def _tls_context() -> ssl.SSLContext:
    """One context for every request: loading the CA store costs some 50 ms of CPU, and
    ``urlopen`` would load it again for each project asked about."""
    return ssl.create_default_context()


class PackageIndex:
    """A simple index; the default is PyPI, ``PIP_INDEX_URL`` or an explicit URL wins."""

    def __init__(self, url: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL).rstrip("/")
        self.timeout = timeout

    def _files(self, name: str) -> list[dict[str, object]]:
        project = canonicalize_name(name)
        url = f"{self.url}/{project}/"
        # project pages are large (numpy's: 2 MB of JSON) and compress tenfold
        headers = {"Accept": _ACCEPT, "Accept-Encoding": "gzip"}
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=_tls_context()
            ) as response:
                body = response.read(_MAX_PAGE_BYTES)
                content_type = response.headers.get("Content-Type", "")
                if response.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = _gunzip(body)
            return _decode(body, content_type, url)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise BuildError(f"package index {self.url} answered {exc.code} for {project}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise BuildError(
                f"cannot query package index {self.url} for {project}: {exc}",
                hint="check the network connection or pass --index-url",
            ) from exc

    def summarise(
        self,
        name: str,
        accepted: frozenset[Tag],
        python: str,
        specifier: SpecifierSet | None = None,
    ) -> ReleaseSummary:
        """Newest release and newest release with a wheel whose tags meet ``accepted``; with a
        specifier, also whether any release (and any compatible one) satisfies it."""
        files = [f for f in self.project_files(name) if not f.yanked]
        usable = [
            f
            for f in files
            if not f.version.is_prerelease and _python_ok(f.requires_python, python)
        ]
        newest_first = sorted(usable, key=lambda f: f.version, reverse=True)
        latest_compatible = next((f.version for f in newest_first if f.fits(accepted)), None)
        matching = [f for f in files if specifier is None or specifier.contains(f.version, True)]
        usable_set = set(usable)
        return ReleaseSummary(
            name=name,
            latest=max(
                (f.version for f in usable), default=max((f.version for f in files), default=None)
            ),
            latest_compatible=latest_compatible,
            any_matching=bool(matching),
            matching_compatible=any(f in usable_set and f.fits(accepted) for f in matching),
        )

    def project_files(self, name: str) -> list[_File]:
        """Every release file the index lists for ``name`` (yanked ones marked)."""
        return [f for e in self._files(name) if (f := _parse_file(e)) is not None]


def _link_files(link: str, timeout: float) -> list[dict[str, object]]:
    """The files a find-links location offers: a local folder's, or a page's anchors."""
    if "://" not in link or link.startswith("file://"):
        folder = Path(unquote(urlsplit(link).path) if "://" in link else link)
        if not folder.is_dir():
            return []
        return [{"filename": p.name, "url": p.as_uri()} for p in sorted(folder.iterdir())]
    import urllib.request

    try:
        with urllib.request.urlopen(link, timeout=timeout, context=_tls_context()) as response:
            body = response.read(_MAX_PAGE_BYTES)
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read find-links page {link}: {exc}") from exc
    return parse_simple_html(body.decode("utf-8", "replace"))


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


class Sources:
    """Every place an install looks for releases: the index, the extra indexes and the
    find-links locations, asked together as pip asks them (their files merged)."""

    def __init__(
        self,
        index_url: str | None = None,
        extra_index_urls: Iterable[str] = (),
        find_links: Iterable[str] = (),
        *,
        no_index: bool = False,
        timeout: float = 30.0,
    ) -> None:
        urls = [] if no_index else [index_url, *extra_index_urls]
        self.indexes = [PackageIndex(url, timeout=timeout) for url in dict.fromkeys(urls)]
        self.find_links = list(dict.fromkeys(find_links))
        self.timeout = timeout
        self._links: dict[str, list[dict[str, object]]] | None = None

    def _link_entries(self, project: str) -> list[dict[str, object]]:
        if self._links is None:
            found: dict[str, list[dict[str, object]]] = {}
            for link in self.find_links:
                for entry in _link_files(link, self.timeout):
                    owner = _project_of(str(entry["filename"]))
                    if owner is not None:
                        found.setdefault(canonicalize_name(owner), []).append(entry)
            self._links = found
        return self._links.get(project, [])

    def files(self, name: str) -> list[_File]:
        project = canonicalize_name(name)
        found = [f for index in self.indexes for f in index.project_files(project)]
        return found + [f for e in self._link_entries(project) if (f := _parse_file(e))]

    def check(
        self, name: str, specifier: SpecifierSet, accepted: frozenset[Tag], python: str
    ) -> PinCheck:
        """What these sources offer ``name`` for the target (see ``PinCheck``)."""
        files = self.files(name)
        exact = any(s.operator in ("==", "===") for s in specifier)
        matching = [
            f
            for f in files
            if specifier.contains(f.version, prereleases=True) and (exact or not f.yanked)
        ]
        fitting = [
            f for f in matching if _python_ok(f.requires_python, python) and f.fits(accepted)
        ]
        chosen = max((f.version for f in fitting), default=None)
        usable = [f for f in files if not f.yanked and not f.version.is_prerelease]
        newest_first = sorted(usable, key=lambda f: f.version, reverse=True)
        return PinCheck(
            name=name,
            known=bool(files),
            matching=bool(matching),
            matching_wheels=any(f.wheel for f in matching),
            matching_compatible=bool(fitting),
            newest=newest_first[0].version if newest_first else None,
            newest_compatible=next(
                (
                    f.version
                    for f in newest_first
                    if _python_ok(f.requires_python, python) and f.fits(accepted)
                ),
                None,
            ),
            chosen=chosen,
            chosen_files=tuple(
                sorted((f.filename, f.sha256) for f in fitting if f.version == chosen)
            ),
        )
