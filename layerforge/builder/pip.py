"""pip, driven the same way by every backend: the arguments, its report, and its failures."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from layerforge.builder.index import PackageIndex
from layerforge.builder.result import ResolvedDistribution
from layerforge.errors import BuildError, LayerforgeError, NoCompatibleWheelError
from layerforge.runtimes import Architecture, Runtime, compatible_platform_tags, supported_tags

__all__ = ["PipTarget", "explain_pip_failure", "install_arguments", "read_install_report"]


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


def install_arguments(
    *,
    target: PipTarget,
    install_dir: str,
    requirements_file: str,
    report_file: str,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
) -> list[str]:
    """Arguments after ``python -m pip``: a binary-only install into ``install_dir``."""
    args = [
        "install",
        "--target",
        install_dir,
        "--no-compile",
        "--no-warn-script-location",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--report",
        report_file,
        "-r",
        requirements_file,
        *target.arguments(),
    ]
    if index_url:
        args += ["--index-url", index_url]
    for url in extra_index_urls:
        args += ["--extra-index-url", url]
    return args


def write_requirements(folder: Path, requirements: Sequence[str]) -> Path:
    """The requirements as a file pip reads (one per line)."""
    path = folder / "requirements.txt"
    path.write_text("\n".join(requirements) + "\n", "utf-8")
    return path


def _from_metadata(tree: Path) -> list[ResolvedDistribution]:
    """Fallback for a pip too old for --report (< 22.2): names and versions from METADATA."""
    found = []
    for metadata in sorted(tree.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(metadata.read_text("utf-8", "replace"))
        found.append(
            ResolvedDistribution(
                name=str(headers["Name"]), version=str(headers["Version"]), wheel="",
                sha256=None, requested=False,
            )
        )  # fmt: skip
    return found


def read_install_report(path: Path, tree: Path) -> list[ResolvedDistribution]:
    """The distributions pip installed, from its ``--report`` JSON (or the installed METADATA)."""
    if not path.is_file():
        return sorted(_from_metadata(tree), key=lambda d: d.name.lower())
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    found = []
    for item in report.get("install", []):
        info = item.get("download_info", {})
        hashes = info.get("archive_info", {}).get("hashes", {})
        found.append(
            ResolvedDistribution(
                name=item["metadata"]["name"],
                version=item["metadata"]["version"],
                wheel=str(info.get("url", "")).rsplit("/", 1)[-1],
                sha256=hashes.get("sha256"),
                requested=bool(item.get("requested", False)),
            )
        )
    return sorted(found, key=lambda d: d.name.lower())


_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Connection refused|Network is unreachable|"
    r"ConnectTimeoutError|Read timed out"
)


def explain_pip_failure(
    output: str, target: PipTarget, index: PackageIndex | None
) -> LayerforgeError:
    """Turn pip's failure output into the error a user can act on."""
    tail = "\n".join(output.strip().splitlines()[-15:])
    if "No space left on device" in output:
        return BuildError(
            "out of disk space while installing",
            hint="free space where the build runs (TMPDIR, or Docker's data root), then retry",
            details=tail,
        )
    if _NETWORK.search(output):
        return _unreachable("pip could not connect", tail)
    match = _NO_MATCH.search(output)
    if match:
        return _no_compatible_wheel(match.group(1), target, index, tail)
    return BuildError("pip failed to install the requirements", details=tail)


def _unreachable(reason: str, tail: str) -> BuildError:
    return BuildError(
        f"cannot reach the package index ({reason})",
        hint="check the network (proxy variables, --index-url) and retry",
        details=tail,
    )


def _no_compatible_wheel(
    requirement: str, target: PipTarget, index: PackageIndex | None, tail: str
) -> LayerforgeError:
    try:
        name = Requirement(requirement).name
    except InvalidRequirement:
        name = requirement
    newest = None
    if index is not None:
        try:
            accepted = supported_tags(target.runtime, target.architecture)
            summary = index.summarise(name, accepted, target.runtime.python_version)
        except BuildError as unreachable:
            # pip says "no matching distribution" when it could not ask the index at all
            return _unreachable(unreachable.message, tail)
        newest = summary.latest_compatible
    if newest is not None:
        hint = (
            f"the newest {name} with a compatible wheel is {newest}: pin {name}<={newest}, "
            "or choose a runtime with a newer glibc (python3.12+ has 2.34)"
        )
    else:
        hint = (
            f"no release of {name} publishes a wheel for this target; layerforge never "
            "compiles from source: pick another package or runtime"
        )
    return NoCompatibleWheelError(
        f"no wheel of {requirement} fits {target.describe()}", hint=hint, details=tail
    )
