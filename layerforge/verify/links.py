"""Symbolic links in a layer: where each leads once Lambda has extracted it to ``/opt``.

Paths resolve as the kernel resolves them: a link in any component is followed (a link to a
folder included), ``..`` goes up from where the links led, an absolute target names a path under
``/opt``, and more than 40 links in one lookup is a loop (ELOOP, Linux's MAXSYMLINKS). A link
that loops, or leads to nothing in the layer, cannot be opened: for a shared object, the loader
fails on it ("cannot open shared object file"), and a layer that holds only such links has
nothing the rules could check, so it must never pass as "0 files checked".

(Wheels have no links: pip and uv install a symlink member as a regular file holding the target's
name, which ``source`` models as such.)
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry

__all__ = ["MAX_LINKS", "SHARED_OBJECT", "LayerPaths", "Lookup", "check_links"]

#: Linux's MAXSYMLINKS: the kernel gives up (ELOOP) after following this many links.
MAX_LINKS = 40
_LAYER_ROOT = "/opt/"
#: A name the loader or Python's importer opens as a shared object.
SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")


@dataclass(frozen=True)
class Lookup:
    """Where a path leads: ``path`` (a file or folder of the layer), or why it leads nowhere."""

    path: str | None
    problem: str = ""


class LayerPaths:
    """The layer's files, folders and links, as the extracted tree would hold them."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self._links = {e.path: e.link_target or "" for e in entries if e.is_link}
        self._files = {e.path for e in entries if e.is_regular}
        self._folders = {e.path.rstrip("/") for e in entries if e.is_dir}
        self._seen: dict[str, Lookup] = {}
        for entry in entries:
            parent = posixpath.dirname(entry.path.rstrip("/"))
            while parent and parent not in self._folders:
                self._folders.add(parent)
                parent = posixpath.dirname(parent)

    def lookup(self, path: str) -> Lookup:
        """Follow ``path`` (relative to /opt) through every link in it."""
        found = self._seen.get(path)
        if found is None:
            found = self._seen[path] = self._follow(path)
        return found

    def _follow(self, path: str) -> Lookup:
        remaining = deque(path.split("/"))
        resolved: list[str] = []
        hops = 0
        while remaining:
            part = remaining.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    return Lookup(None, "leads outside the layer")
                resolved.pop()
                continue
            here = "/".join([*resolved, part])
            target = self._links.get(here)
            if target is None:
                if here in self._folders or (here in self._files and not remaining):
                    resolved.append(part)
                    continue
                return Lookup(None, f"dangles: {here} is not in the layer")
            hops += 1
            if hops > MAX_LINKS:
                return Lookup(None, f"loops: more than {MAX_LINKS} links to follow")
            if target.startswith("/"):
                if not target.startswith(_LAYER_ROOT):
                    return Lookup(None, f"leads outside the layer ({target})")
                resolved, target = [], target[len(_LAYER_ROOT) :]
            remaining.extendleft(reversed(target.split("/")))
        return Lookup("/".join(resolved))

    def file(self, path: str) -> str | None:
        """The regular file ``path`` leads to, or None."""
        found = self.lookup(path).path
        return found if found in self._files else None


def _finding(entry: Entry, problem: str) -> Finding:
    if SHARED_OBJECT.search(entry.path):
        return Finding(
            Rule.INTEGRITY,
            Severity.ERROR,
            entry.path,
            f"a link to {entry.link_target} that {problem}: the loader cannot open this shared "
            "object",
            required=entry.link_target or "",
            allowed="a link to a shared object in the layer",
            fix="ship the file the link names, or the library itself under this name",
        )
    return Finding(
        Rule.LAYOUT,
        Severity.WARNING,
        entry.path,
        f"a link to {entry.link_target} that {problem}: whatever opens it fails",
        required=entry.link_target or "",
        fix="ship the file the link names, or remove the link",
    )


def check_links(entries: Sequence[Entry], paths: LayerPaths) -> list[Finding]:
    """Links that loop or lead to nothing: errors for shared objects, warnings otherwise."""
    findings = []
    for entry in entries:
        if entry.is_link:
            found = paths.lookup(entry.path)
            if found.path is None:
                findings.append(_finding(entry, found.problem))
    return findings
