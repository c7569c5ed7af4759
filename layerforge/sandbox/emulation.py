"""Running another architecture's code on this host: only under an emulator the kernel knows.

An arm64 layer is imported by arm64 Python, never by the host's: on an x86_64 host that means
qemu-user through binfmt_misc (Debian's ``qemu-user-static`` registers ``qemu-aarch64`` with the
F flag, so it works inside containers and sandboxes too). Where no emulator is registered, the
sandbox refuses instead of running the layer for an architecture it is not.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from layerforge.errors import SandboxError
from layerforge.runtimes import Architecture

__all__ = ["BINFMT", "host_platform", "is_emulated", "require_emulation", "rootfs_for"]

BINFMT = Path("/proc/sys/fs/binfmt_misc")
_EMULATORS = {"aarch64": "qemu-aarch64", "x86_64": "qemu-x86_64"}


def host_platform() -> str:
    """The host's machine name as wheel tags and ELF triplets say it (x86_64, aarch64)."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def is_emulated(arch: Architecture) -> bool:
    return arch.platform != host_platform()


def _registered(name: str) -> bool:
    entry = BINFMT / name
    try:
        return entry.is_file() and entry.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def require_emulation(arch: Architecture) -> None:
    """Nothing when ``arch`` runs natively or under a registered emulator; else SandboxError."""
    if not is_emulated(arch):
        return
    emulator = _EMULATORS.get(arch.platform, f"qemu-{arch.platform}")
    if not _registered(emulator):
        raise SandboxError(
            f"cannot run {arch.value} code on this {host_platform()} host: no {emulator} "
            f"emulator is registered in {BINFMT}",
            hint="install qemu-user-static and binfmt-support (Debian), or run on an "
            f"{arch.value} machine; layerforge never imports a layer on the wrong architecture",
        )


def rootfs_for(arch: Architecture, explicit: Path | None) -> Path | None:
    """A root filesystem of ``arch`` for the bubblewrap sandbox: --rootfs, else
    ``LAYERFORGE_ROOTFS_<ARCH>`` (e.g. LAYERFORGE_ROOTFS_ARM64); None runs the host's own."""
    chosen = explicit or (
        Path(value) if (value := os.environ.get(f"LAYERFORGE_ROOTFS_{arch.name}")) else None
    )
    if chosen is None:
        return None
    if not (chosen / "usr").is_dir():
        raise SandboxError(
            f"{chosen} is not a root filesystem (no usr/ folder)",
            hint="debootstrap --arch arm64 bookworm DIR makes one",
        )
    return chosen
