"""Questions to the package index (PEP 691 JSON): which releases exist, and which fit."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from layerforge.errors import BuildError

__all__ = ["DEFAULT_INDEX_URL", "PackageIndex", "ReleaseSummary"]

DEFAULT_INDEX_URL = "https://pypi.org/simple"
_ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class ReleaseSummary:
    """The newest release of a project, and the newest one with a wheel for the target."""

    name: str
    latest: Version | None
    latest_compatible: Version | None


@dataclass(frozen=True)
class _File:
    version: Version
    tags: frozenset[Tag] | None  # None for a source distribution
    requires_python: str | None


def _parse_file(entry: dict[str, object], name: str) -> _File | None:
    filename = str(entry.get("filename", ""))
    if entry.get("yanked"):
        return None
    requires = entry.get("requires-python")
    try:
        if filename.endswith(".whl"):
            _, version, _, tags = parse_wheel_filename(filename)
            return _File(version, frozenset(tags), str(requires) if requires else None)
        if filename.endswith((".tar.gz", ".zip")):
            _, version = parse_sdist_filename(filename)
            return _File(version, None, str(requires) if requires else None)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _python_ok(file: _File, python: str) -> bool:
    if not file.requires_python:
        return True
    try:
        return SpecifierSet(file.requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


class PackageIndex:
    """A PEP 691 simple index; the default is PyPI, ``PIP_INDEX_URL`` or an explicit URL wins."""

    def __init__(self, url: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL).rstrip("/")
        self.timeout = timeout

    def _files(self, name: str) -> list[dict[str, object]]:
        project = canonicalize_name(name)
        request = urllib.request.Request(f"{self.url}/{project}/", headers={"Accept": _ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                document = json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise BuildError(f"package index {self.url} answered {exc.code} for {project}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise BuildError(
                f"cannot query package index {self.url} for {project}: {exc}",
                hint="check the network connection or pass --index-url",
            ) from exc
        files = document.get("files", [])
        return [f for f in files if isinstance(f, dict)]

    def summarise(self, name: str, accepted: frozenset[Tag], python: str) -> ReleaseSummary:
        """Newest release and newest release with a wheel whose tags meet ``accepted``."""
        files = [f for e in self._files(name) if (f := _parse_file(e, name)) is not None]
        usable = [f for f in files if not f.version.is_prerelease and _python_ok(f, python)]
        latest = max((f.version for f in usable), default=None)
        compatible = max(
            (f.version for f in usable if f.tags is not None and f.tags & accepted),
            default=None,
        )
        return ReleaseSummary(name=name, latest=latest, latest_compatible=compatible)

    def summarise_many(
        self, names: Iterable[str], accepted: frozenset[Tag], python: str
    ) -> dict[str, ReleaseSummary]:
        """``summarise`` for many projects at once, in parallel."""
        names = list(names)
        with ThreadPoolExecutor(max_workers=8) as pool:
            summaries = pool.map(lambda n: self.summarise(n, accepted, python), names)
            return {s.name: s for s in summaries}
