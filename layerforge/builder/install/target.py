"""The interpreter a layer is installed for, as pip's cross-install options express it
(``pip install --only-binary=:all: --python-version X.Y --abi cpXY --platform ...``): shared
by the install, its diagnosis and the lock it writes."""

from __future__ import annotations

from dataclasses import dataclass

from layerforge.runtimes import Architecture, Runtime, compatible_platform_tags

__all__ = ["PipTarget"]


@dataclass(frozen=True)
class PipTarget:
    """The interpreter a layer is for, as pip's cross-install options express it."""

    runtime: Runtime
    architecture: Architecture

    def arguments(self) -> list[str]:
        args = [
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            self.runtime.python_version,
            "--abi",
            self.runtime.abi,
        ]
        for tag in compatible_platform_tags(self.runtime, self.architecture):
            args += ["--platform", tag]
        return args

    def describe(self) -> str:
        return (
            f"{self.runtime.name} on {self.architecture.value} "
            f"({self.runtime.os}, glibc {self.runtime.glibc})"
        )
