"""Questions to the package index: which releases exist, and which fit. PEP 691 JSON where the
index offers it, PEP 503 HTML otherwise (many private indexes serve only HTML)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from html.parser import HTMLParser
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

__all__ = ["DEFAULT_INDEX_URL", "PackageIndex", "ReleaseSummary", "parse_simple_html"]

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
class _File:
    filename: str
    version: Version
    wheel: bool
    requires_python: str | None

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


def _parse_file(entry: dict[str, object]) -> _File | None:
    filename = str(entry.get("filename", ""))
    if entry.get("yanked"):
        return None
    requires = entry.get("requires-python")
    requires_python = str(requires) if requires else None
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        version = _version(parts[1]) if len(parts) in (5, 6) else None
        return _File(filename, version, True, requires_python) if version else None
    if filename.endswith((".tar.gz", ".zip")):
        try:
            _, version = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            return None
        return _File(filename, version, False, requires_python)
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
        files = [f for e in self._files(name) if (f := _parse_file(e)) is not None]
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
