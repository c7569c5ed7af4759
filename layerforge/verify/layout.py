"""Rule ``layout``: where files sit, and entries that are unsafe to extract at all."""

from __future__ import annotations

import posixpath
import re
import stat
from collections import Counter
from collections.abc import Sequence

from layerforge.runtimes import Runtime
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry

__all__ = ["check_placement", "check_unsafe_entries"]

#: Lambda puts /opt/python on sys.path, /opt/bin on PATH and /opt/lib on LD_LIBRARY_PATH.
SEARCHED_TOP_LEVEL = ("python", "bin", "lib")
_SITE_PACKAGES = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")


def _error(path: str, message: str, fix: str) -> Finding:
    return Finding(Rule.LAYOUT, Severity.ERROR, path, message, fix=fix)


def _link_escapes(entry: Entry) -> bool:
    target = entry.link_target or ""
    if target.startswith("/"):
        return not target.startswith("/opt/")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), target))
    return resolved == ".." or resolved.startswith("../")


def _unsafe(entry: Entry) -> Finding | None:
    path = entry.path
    fix = "rebuild the zip from a clean folder (layerforge build writes only safe entries)"
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        return _error(path, "absolute path: extraction would write outside /opt", fix)
    if ".." in re.split(r"[\\/]", path):
        return _error(path, "'..' component: extraction would escape /opt", fix)
    if entry.is_link and _link_escapes(entry):
        return _error(path, f"link to {entry.link_target} points outside the layer", fix)
    if entry.mode & (stat.S_ISUID | stat.S_ISGID):
        return _error(path, "setuid/setgid bit set", "clear the bit; Lambda ignores it anyway")
    if stat.S_IFMT(entry.mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        return _error(path, "device, FIFO or socket file", fix)
    return None


def check_unsafe_entries(entries: Sequence[Entry]) -> list[Finding]:
    """Entries that make the archive unsafe to extract: checked before anything is read."""
    findings = [f for e in entries if (f := _unsafe(e)) is not None]
    for path, count in Counter(e.path for e in entries).items():
        if count > 1:
            findings.append(
                _error(
                    path,
                    f"duplicate entry ({count} times): which one wins is undefined",
                    "rebuild the zip so that each path appears once",
                )
            )
    return findings


def check_placement(entries: Sequence[Entry], runtime: Runtime) -> list[Finding]:
    """Content must sit under ``python/`` (or ``python/lib/python3.X/site-packages``)."""
    findings: list[Finding] = []
    files = [e for e in entries if not e.is_dir]
    if not any(e.path.startswith("python/") for e in files):
        findings.append(
            _error(
                "(layer)",
                "no python/ folder: Lambda will not find any module",
                "zip the installed packages under a top-level python/ folder",
            )
        )
    wrong_versions = {
        m.group(1)
        for e in files
        if (m := _SITE_PACKAGES.match(e.path)) and m.group(1) != runtime.python_version
    }
    for version in sorted(wrong_versions):
        findings.append(
            _error(
                f"python/lib/python{version}/site-packages/",
                f"{runtime.name} never searches this folder",
                f"install into python/ or {runtime.site_packages}/",
            )
        )
    stray = sorted({e.path.split("/", 1)[0] for e in files} - set(SEARCHED_TOP_LEVEL))
    for name in stray:
        findings.append(
            Finding(
                Rule.LAYOUT,
                Severity.WARNING,
                name,
                "not on any Lambda search path (python/, bin/, lib/): dead weight",
                fix="remove it or move it under python/",
            )
        )
    return findings
