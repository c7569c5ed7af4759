"""Rule ``foreign-binary``: Mach-O and PE/COFF files (built for macOS or Windows).

No Linux loader can load them. A Windows or macOS *extension module* (``.pyd``, a Mach-O
``.so``) means the package was built for the wrong OS, and its Linux extension is missing: an
error, unless a Linux extension of the same module sits beside it. Anything else (pip's and
setuptools' ``.exe`` launchers, ``.dll`` data) is dead weight: a warning, and the build prunes
the launchers.
"""

from __future__ import annotations

import posixpath
import re

from layerforge.verify.findings import Finding, Rule, Severity

__all__ = ["FOREIGN_SUFFIXES", "check_foreign", "foreign_format"]

_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_FAT_MACH_O = b"\xca\xfe\xba\xbe"  # also a Java class file: trusted only for native names
FOREIGN_SUFFIXES = (".pyd", ".dll", ".dylib", ".exe")
_NATIVE_SUFFIXES = (".so", ".dylib", ".pyd", ".dll")
_EXTENSION_NAMES = (".so", ".pyd", ".dylib")
_MODULE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.")


def foreign_format(path: str, head: bytes) -> str | None:
    """``Mach-O`` or ``PE/COFF`` when the first bytes (or a Windows/macOS name) say so."""
    if head[:4] in _MACH_O or (head[:4] == _FAT_MACH_O and path.endswith(_NATIVE_SUFFIXES)):
        return "Mach-O (macOS)"
    if head[:2] == b"MZ" and path.lower().endswith((*_NATIVE_SUFFIXES, ".exe")):
        return "PE/COFF (Windows)"
    if path.lower().endswith(FOREIGN_SUFFIXES):
        return "Windows/macOS binary by its name"
    return None


def _linux_sibling(path: str, layer_files: frozenset[str]) -> bool:
    folder, name = posixpath.split(path)
    match = _MODULE.match(name)
    if match is None:
        return False
    prefix = posixpath.join(folder, match.group(1) + ".")
    return any(f.startswith(prefix) and f.endswith(".so") and f != path for f in layer_files)


def check_foreign(path: str, head: bytes, layer_files: frozenset[str]) -> list[Finding]:
    kind = foreign_format(path, head)
    if kind is None:
        return []
    extension = path.lower().endswith(_EXTENSION_NAMES)
    if extension and not _linux_sibling(path, layer_files):
        return [
            Finding(
                Rule.FOREIGN_BINARY,
                Severity.ERROR,
                path,
                f"{kind} extension module: Lambda runs Linux, and the layer has no Linux build "
                "of this module",
                required=kind,
                allowed="ELF (Linux)",
                fix="the layer was built for the wrong OS: rebuild with layerforge build, which "
                "selects Linux wheels on any host",
            )
        ]
    return [
        Finding(
            Rule.FOREIGN_BINARY,
            Severity.WARNING,
            path,
            f"{kind}: nothing on Linux can load it; dead weight, never a load failure",
            required=kind,
            allowed="ELF (Linux)",
            fix="layerforge build prunes Windows launchers (.exe); remove the file to save space",
        )
    ]
