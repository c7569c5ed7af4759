"""Rule ``foreign-binary``: Mach-O and PE/COFF files (built on macOS or Windows)."""

from __future__ import annotations

from layerforge.verify.model import Finding, Rule, Severity

__all__ = ["FOREIGN_SUFFIXES", "check_foreign", "foreign_format"]

_MACH_O = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_FAT_MACH_O = b"\xca\xfe\xba\xbe"  # also a Java class file: trusted only for native names
FOREIGN_SUFFIXES = (".pyd", ".dll", ".dylib", ".exe")
_NATIVE_SUFFIXES = (".so", ".dylib", ".pyd", ".dll")


def foreign_format(path: str, head: bytes) -> str | None:
    """``Mach-O`` or ``PE/COFF`` when the first bytes (or a Windows/macOS name) say so."""
    if head[:4] in _MACH_O or (head[:4] == _FAT_MACH_O and path.endswith(_NATIVE_SUFFIXES)):
        return "Mach-O (macOS)"
    if head[:2] == b"MZ" and path.lower().endswith((*_NATIVE_SUFFIXES, ".exe")):
        return "PE/COFF (Windows)"
    if path.lower().endswith(FOREIGN_SUFFIXES):
        return "Windows/macOS binary by its name"
    return None


def check_foreign(path: str, head: bytes) -> list[Finding]:
    kind = foreign_format(path, head)
    if kind is None:
        return []
    return [
        Finding(
            Rule.FOREIGN_BINARY, Severity.ERROR, path,
            f"{kind}: Lambda runs Linux and cannot load it",
            required=kind, allowed="ELF (Linux)",
            fix="the layer was built on the wrong OS: rebuild with layerforge build, which "
            "selects Linux wheels on any host",
        )
    ]  # fmt: skip
