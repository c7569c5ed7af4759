"""What a build installs, whatever file it came from: requirements, constraints, index options."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["InputRequirement", "Inputs", "file_digest"]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class InputRequirement:
    """One requirement (a PEP 508 string, a wheel URL or a local wheel path), its hashes, and
    where it was written (``requirements.txt:6``), for messages."""

    text: str
    hashes: tuple[str, ...] = ()
    origin: str = "command line"

    def line(self) -> str:
        """As pip reads it in a requirements file."""
        return " ".join([self.text, *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """The normalised input of one build: markers already evaluated for the target runtime."""

    requirements: tuple[InputRequirement, ...]
    constraints: tuple[InputRequirement, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    pre: bool = False
    no_index: bool = False
    no_deps: bool = False
    sources: tuple[tuple[str, str], ...] = ()  # (file, sha256) of every file read
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def require_hashes(self) -> bool:
        """Any hash means every requirement must be hash-checked (pip's --require-hashes)."""
        return any(r.hashes for r in self.requirements)

    def requirement_lines(self) -> list[str]:
        return [r.line() for r in self.requirements]

    def constraint_lines(self) -> list[str]:
        return [c.line() for c in self.constraints]

    def describe(self) -> list[str]:
        """The requirement strings, as the manifest records them."""
        return [r.text for r in self.requirements]

    def named_projects(self) -> frozenset[str]:
        """The canonical names the requirements name (what pip's report calls requested);
        a wheel path or URL names none."""
        named = set()
        for text in self.describe():
            try:
                named.add(canonicalize_name(Requirement(text).name))
            except InvalidRequirement:
                continue
        return frozenset(named)

    def cache_inputs(self) -> dict[str, object]:
        """Everything about the inputs that can change the result."""
        return {
            "requirements": self.requirement_lines(),
            "constraints": self.constraint_lines(),
            "index_url": self.index_url,
            "extra_index_urls": list(self.extra_index_urls),
            "find_links": [_link_state(link) for link in self.find_links],
            "trusted_hosts": list(self.trusted_hosts),
            "pre": self.pre,
            "no_index": self.no_index,
            "no_deps": self.no_deps,
            "sources": [list(pair) for pair in self.sources],
            "local_wheels": [
                _link_state(str(path)) for r in self.requirements if (path := _local_file(r.text))
            ],
        }


def _local_file(text: str) -> Path | None:
    """The wheel a normalised requirement installs from this machine: an absolute path, or
    ``name[extras] @ file:///path`` (extras need the PEP 508 form)."""
    _, at, url = text.partition(" @ file://")
    path = Path(unquote(urlsplit(f"file://{url}").path)) if at else Path(text)
    local = (at or "://" not in text) and path.suffix == ".whl"
    return path if local and path.is_file() else None


def _link_state(link: str) -> object:
    """A find-links folder by its wheels' names, sizes and times; a local wheel by its size and
    time; a URL as it is (the index decides what it serves)."""
    path = Path(link)
    if "://" in link or not path.exists():
        return link
    if path.is_file():
        stat = path.stat()
        return [link, stat.st_size, stat.st_mtime_ns]
    return [
        link,
        sorted(
            [p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in path.iterdir() if p.is_file()
        ),
    ]
