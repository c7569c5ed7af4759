"""Where the dynamic loader will find each library an ELF file needs, by glibc's own rules.

For an object X needing library N (no slash in N), ld.so searches, in order:

1. X's DT_RPATH, and the DT_RPATH of each object up the chain that loaded X (each used only if
   that object has no DT_RUNPATH) -- all of this only if X itself has no DT_RUNPATH;
2. LD_LIBRARY_PATH (in Lambda, of a layer only /opt/lib);
3. X's DT_RUNPATH;
4. the system's libraries (here: the runtime OS's list).

``$ORIGIN`` expands to the folder of X; nothing else about X's folder is searched implicitly, so
a helper library beside an extension module without an ``$ORIGIN`` entry is not found. The chain
in (1) is taken from the layer's own dependency graph (any object that needs X and resolves it).
A candidate path is followed through the layer's links (``verify.links``): a library found
through a link is the file the link leads to, and a link that leads nowhere finds nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from layerforge.verify.elf import ElfFacts

__all__ = ["LayerLoader", "Resolution"]

_LAYER_ROOT = "/opt/"


@dataclass(frozen=True)
class Resolution:
    """Where one needed library was found: ``system``, a layer path, or nowhere (``None``)."""

    library: str
    found: str | None
    searched: tuple[str, ...] = ()


def _expand(entry: str, origin: str, platform: str) -> str | None:
    """An RPATH/RUNPATH entry as a folder of the layer (``python/numpy.libs``), or None when it
    points outside the layer (system folders, or relative to the process's working folder)."""
    expanded = (
        entry.replace("${ORIGIN}", "$ORIGIN")
        .replace("$ORIGIN", _LAYER_ROOT + origin)
        .replace("${PLATFORM}", platform)
        .replace("$PLATFORM", platform)
    )
    if not expanded.startswith(_LAYER_ROOT):
        return None
    normalised = posixpath.normpath(expanded[len(_LAYER_ROOT) :])
    return None if normalised.startswith("..") else normalised


@dataclass
class LayerLoader:
    """The load graph of a layer's ELF files (paths relative to /opt)."""

    elves: Mapping[str, ElfFacts]
    layer_file: Callable[[str], str | None]  # the regular file a layer path leads to, or None
    system_libraries: frozenset[str]
    library_folders: tuple[str, ...]
    platform: str
    _resolved: dict[str, dict[str, Resolution]] = field(default_factory=dict)

    def _folders(self, path: str, kind: str) -> list[str]:
        facts = self.elves[path]
        entries = facts.rpath if kind == "rpath" else facts.runpath
        origin = posixpath.dirname(path)
        return [f for e in entries if (f := _expand(e, origin, self.platform)) is not None]

    def _parents(self) -> dict[str, set[str]]:
        parents: dict[str, set[str]] = {}
        for path, resolutions in self._resolved.items():
            for resolution in resolutions.values():
                if resolution.found not in (None, "system"):
                    parents.setdefault(str(resolution.found), set()).add(path)
        return parents

    def _inherited(self, path: str, parents: dict[str, set[str]]) -> list[str]:
        """DT_RPATH of the objects up the chain that loads ``path`` (those without RUNPATH)."""
        found: list[str] = []
        seen, queue = {path}, list(parents.get(path, ()))
        while queue:
            loader = queue.pop(0)
            if loader in seen:
                continue
            seen.add(loader)
            if not self.elves[loader].runpath:
                found += self._folders(loader, "rpath")
            queue += list(parents.get(loader, ()))
        return found

    def _search(self, path: str, library: str, inherited: list[str]) -> Resolution:
        if library in self.system_libraries:
            return Resolution(library, "system")
        facts = self.elves[path]
        folders = [] if facts.runpath else [*self._folders(path, "rpath"), *inherited]
        folders += [*self.library_folders, *self._folders(path, "runpath")]
        if "/" in library:
            candidate = _expand(library, posixpath.dirname(path), self.platform)
            hit = self.layer_file(candidate) if candidate is not None else None
            return Resolution(library, hit, (library,))
        for folder in folders:
            hit = self.layer_file(posixpath.join(folder, library))
            if hit is not None:
                return Resolution(library, hit, tuple(folders))
        return Resolution(library, None, tuple(dict.fromkeys(folders)))

    def resolve_all(self) -> dict[str, dict[str, Resolution]]:
        """Each ELF file's needed libraries, resolved; repeated while inherited RPATHs (from
        newly found loaders) find more."""
        self._resolved = {
            path: {lib: self._search(path, lib, []) for lib in facts.needed}
            for path, facts in self.elves.items()
        }
        for _ in range(8):
            parents = self._parents()
            changed = False
            for path, resolutions in self._resolved.items():
                missing = [lib for lib, r in resolutions.items() if r.found is None]
                if not missing or self.elves[path].runpath:
                    continue
                inherited = self._inherited(path, parents)
                for library in missing:
                    retry = self._search(path, library, inherited)
                    if retry.found is not None:
                        resolutions[library] = retry
                        changed = True
            if not changed:
                break
        return self._resolved
