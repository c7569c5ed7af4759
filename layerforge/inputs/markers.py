"""Environment markers evaluated for the Lambda runtime a layer is for, not for this host."""

from __future__ import annotations

import re

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from layerforge.errors import UsageError
from layerforge.runtimes import Architecture, Runtime

__all__ = ["applies", "target_environment"]

_LOCK_SETS = re.compile(r"\b(extras|dependency_groups)\b")


def target_environment(runtime: Runtime, arch: Architecture) -> dict[str, str]:
    """PEP 508's marker variables as the runtime's interpreter would report them. The patch
    version is not fixed by Lambda; ``X.Y.0`` stands for it."""
    version = runtime.python_version
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": arch.platform,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "python_version": version,
        "sys_platform": "linux",
    }


def applies(
    marker: Marker | str | None,
    environment: dict[str, str],
    *,
    origin: str,
    groups: frozenset[str] | None = None,
) -> bool:
    """Whether a requirement with ``marker`` is installed on the target. ``groups``: for a
    PEP 751 lock, the dependency groups installed (its markers test ``extras`` and
    ``dependency_groups`` as sets)."""
    if marker is None or marker == "":
        return True
    try:
        parsed = marker if isinstance(marker, Marker) else Marker(str(marker))
        if groups is not None and _LOCK_SETS.search(str(parsed)):  # packaging 25+ reads them
            sets = {"extras": frozenset[str](), "dependency_groups": groups}
            return bool(parsed.evaluate({**environment, **sets}, "lock_file"))
        return bool(parsed.evaluate({**environment, "extra": ""}))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName, TypeError) as exc:
        raise UsageError(f"{origin}: cannot evaluate marker {str(marker)!r}: {exc}") from None
