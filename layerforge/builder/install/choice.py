"""Who installs a build's wheels, and why: pip, uv, or pip choosing and uv unpacking.

uv installs the same wheels several times faster than pip, but its ``--python-platform`` names
only some glibc levels: ``manylinux_2_34`` (Amazon Linux 2023: python3.12 and later) is one,
``manylinux_2_26`` (Amazon Linux 2) is not, and asking for 2_17 there would miss wheels tagged
2_24 or 2_26. So uv resolves only where the runtime's glibc is a level uv names (and only on
the cross backend: the docker backend's point is that the image's own pip chooses); elsewhere
pip resolves and downloads, and uv installs exactly the files pip downloaded (``pip+uv``),
which chooses nothing. ``--installer pip`` is pip alone; without uv, pip alone.

This module decides without loading pip's or uv's machinery: a warm build asks it too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from layerforge.builder.request import InstallerChoice, LayerSpec
from layerforge.errors import UsageError
from layerforge.interpreters import remembered_output
from layerforge.runtimes import Architecture, Runtime

__all__ = [
    "PIP_ENVIRONMENT",
    "InstallPlan",
    "choose_installer",
    "unpack_platform",
    "uv_binary",
    "uv_platform",
    "uv_platform_within",
    "uv_version",
]

#: glibc levels uv's --python-platform names (uv --help: manylinux_2_17, 2_28, 2_31 .. 2_40);
#: Amazon Linux 2's 2_26 is not among them
_UV_GLIBC_MINORS = frozenset({17, 28, *range(31, 41)})
_UV_ARCH = {Architecture.X86_64: "x86_64", Architecture.ARM64: "aarch64"}


#: The environment every pip run gets (the options old pips do not know are ignored there):
#: no prompts; and no resuming of a download, because pip 25+ takes a write that fails (a full
#: disk) for a dropped connection, retries, and reports "incomplete-download" instead of ENOSPC.
PIP_ENVIRONMENT = {"PIP_NO_INPUT": "1", "PIP_RESUME_RETRIES": "0"}


def uv_binary() -> str | None:
    """uv from the ``uv`` package (installed with layerforge's ``uv`` extra), else on PATH."""
    try:
        from uv import find_uv_bin  # an optional extra: absent is an answer, not an error

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def uv_version(binary: str) -> str:
    return remembered_output(Path(binary), ["--version"]) or "unknown (uv --version failed)"


def uv_platform(runtime: Runtime, arch: Architecture) -> str | None:
    """uv's --python-platform for exactly the runtime's glibc, or None where uv has none."""
    if runtime.glibc.major != 2 or runtime.glibc.minor not in _UV_GLIBC_MINORS:
        return None
    return f"{_UV_ARCH[arch]}-manylinux_2_{runtime.glibc.minor}"


def uv_platform_within(runtime: Runtime, arch: Architecture) -> str | None:
    """uv's highest ``--python-platform`` at or below the runtime's glibc: the runtime's own
    where uv names it, else one that misses the wheels tagged between it and the runtime's."""
    levels = sorted(m for m in _UV_GLIBC_MINORS if m <= runtime.glibc.minor)
    if runtime.glibc.major != 2 or not levels:
        return None
    return f"{_UV_ARCH[arch]}-manylinux_2_{levels[-1]}"


def unpack_platform(runtime: Runtime, arch: Architecture) -> str | None:
    """uv's lowest ``--python-platform`` at or above the runtime's glibc. It accepts every
    wheel pip chose for the runtime, and nothing is chosen under it: uv only installs the files
    pip downloaded."""
    levels = sorted(m for m in _UV_GLIBC_MINORS if m >= runtime.glibc.minor)
    if runtime.glibc.major != 2 or not levels:
        return None
    return f"{_UV_ARCH[arch]}-manylinux_2_{levels[0]}"


@dataclass(frozen=True)
class InstallPlan:
    """Who installs: ``uv`` (resolves and installs: its target is the runtime's glibc),
    ``pip``, or ``pip+uv`` (pip resolves and downloads for the runtime's exact glibc; uv
    installs exactly those files and chooses nothing)."""

    name: str
    why: str
    uv: tuple[str, str] = ("", "")  # uv's binary and --python-platform

    @property
    def uses_uv(self) -> bool:
        return self.name != "pip"

    def cache_inputs(self, uv_python: Callable[[], str]) -> dict[str, object]:
        """What of this plan decides the layer (the build cache's key): who installs, and for
        uv its version, target, environment and the interpreter ``uv_python`` names."""
        found: dict[str, object] = {"installer": self.name}
        if self.uses_uv:
            binary, platform = self.uv
            found["uv"] = [uv_version(binary), platform]
            found["uv_python"] = uv_python()
            found["uv_environment"] = {
                k: v for k, v in sorted(os.environ.items()) if k.startswith("UV_")
            }
        return found


def choose_installer(spec: LayerSpec, *, image_pip: bool = False) -> InstallPlan:
    """The install plan for ``--installer``, and why. ``image_pip``: the docker backend, where
    the image's pip always resolves and downloads (``--installer uv`` is refused before)."""
    platform = uv_platform(spec.runtime, spec.architecture)
    exact = f"uv targets {platform}, exactly {spec.runtime.name}'s glibc {spec.runtime.glibc}"
    inexact = (
        f"uv has no target for glibc {spec.runtime.glibc} ({spec.runtime.os}) and a lower one "
        "would miss wheels"
    )
    if spec.installer is InstallerChoice.PIP:
        return InstallPlan("pip", "as --installer pip asks")
    binary = uv_binary()
    if spec.installer is InstallerChoice.UV and not image_pip:
        if platform is None:
            raise UsageError(
                f"--installer uv cannot build for {spec.target}: {inexact}",
                hint="use --installer pip (or auto, which picks pip here)",
            )
        if binary is None:
            raise UsageError(
                "--installer uv: uv is not installed",
                hint="pip install 'layerforge[uv]', or --installer pip",
            )
        return InstallPlan("uv", exact, (binary, platform))
    if binary is None:
        return InstallPlan(
            "pip", "uv is not installed (pip install 'layerforge[uv]' makes installs faster)"
        )
    if platform is not None and not image_pip:
        return InstallPlan("uv", exact, (binary, platform))
    unpack = unpack_platform(spec.runtime, spec.architecture)
    if unpack is None:
        return InstallPlan("pip", inexact)
    if image_pip:
        why = "the image's pip resolves and downloads, uv installs exactly the wheels it chose"
    else:
        why = f"{inexact}: pip resolves and downloads, uv installs exactly the wheels pip chose"
    return InstallPlan("pip+uv", why, (binary, unpack))
