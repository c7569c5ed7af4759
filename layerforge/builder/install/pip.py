"""pip, driven the same way by every backend: its arguments, its configuration, its report, and
its failures turned into errors that name the real cause."""

from __future__ import annotations

import configparser
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from layerforge.builder.install.diagnosis import HASH_HINT
from layerforge.builder.install.target import PipTarget
from layerforge.builder.result import ResolvedDistribution
from layerforge.errors import (
    BuildError,
    CheckFailedError,
    LayerforgeError,
    NoCompatibleWheelError,
    UsageError,
)
from layerforge.inputs import Inputs
from layerforge.inputs.requirement import file_digest
from layerforge.runtimes import Runtime, supported_tags
from layerforge.scratch import build_scratch_parent

if TYPE_CHECKING:
    from layerforge.builder.install.index import PackageIndex

__all__ = [
    "InstallFiles",
    "PipTarget",
    "as_written",
    "download_arguments",
    "every_problem",
    "explain_pip_failure",
    "install_arguments",
    "no_compatible_wheel_error",
    "out_of_space_error",
    "pip_configuration_state",
    "read_install_report",
    "source_arguments",
    "unreachable_error",
    "write_install_files",
]


@dataclass(frozen=True)
class InstallFiles:
    """The files pip reads for one install (paths as the installing pip sees them)."""

    requirements: str
    constraints: str | None
    report: str


def write_install_files(folder: Path, inputs: Inputs) -> tuple[Path, Path | None]:
    """requirements.txt (with --hash options) and constraints.txt, as pip reads them."""
    requirements = folder / "requirements.txt"
    requirements.write_text("\n".join(inputs.requirement_lines()) + "\n", "utf-8")
    constraints = None
    if inputs.constraints:
        constraints = folder / "constraints.txt"
        constraints.write_text("\n".join(inputs.constraint_lines()) + "\n", "utf-8")
    return requirements, constraints


def install_arguments(
    *, target: PipTarget, install_dir: str, files: InstallFiles, inputs: Inputs
) -> list[str]:
    """Arguments after ``python -m pip``: a binary-only install into ``install_dir``."""
    args = [
        "install",
        "--target",
        install_dir,
        "--no-compile",
        "--no-warn-script-location",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--report",
        files.report,
        "-r",
        files.requirements,
        *target.arguments(),
    ]
    if files.constraints:
        args += ["-c", files.constraints]
    return args + source_arguments(inputs)


def source_arguments(
    inputs: Inputs, *, trusted_host: str = "--trusted-host", pre: str = "--pre"
) -> list[str]:
    """Where the wheels come from and how strictly, as pip (and uv, which spells two of the
    options differently) take it: hashes, indexes, find-links, trusted hosts, pre-releases."""
    args = ["--require-hashes"] if inputs.require_hashes else []
    if inputs.index_url:
        args += ["--index-url", inputs.index_url]
    for url in inputs.extra_index_urls:
        args += ["--extra-index-url", url]
    for link in inputs.find_links:
        args += ["--find-links", link]
    for host in inputs.trusted_hosts:
        args += [trusted_host, host]
    for flag, on in (
        (pre, inputs.pre),
        ("--no-index", inputs.no_index),
        ("--no-deps", inputs.no_deps),
    ):
        if on:
            args.append(flag)
    return args


def download_arguments(
    *, target: PipTarget, dest: str, files: InstallFiles, inputs: Inputs
) -> list[str]:
    """Arguments after ``python -m pip``: fetch the wheels ``install_arguments`` would install
    into ``dest`` (files already there are not fetched again)."""
    install = install_arguments(target=target, install_dir="", files=files, inputs=inputs)
    options = install[install.index("-r") :]
    return [
        "download",
        "--dest",
        dest,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        *options,
    ]


# -- pip's own configuration, for the cache key ------------------------------------------------

_FILE_KEYS = {"constraint", "constraints", "c", "requirement", "requirements", "r"}


def _config_files(prefix: Path, environ: Mapping[str, str]) -> list[Path]:
    """Every file pip reads its configuration from (pip's own order of locations)."""
    explicit = environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    home = Path(environ.get("HOME", str(Path.home())))
    xdg_home = Path(environ.get("XDG_CONFIG_HOME", str(home / ".config")))
    candidates = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d]
    candidates += [Path("/etc/pip.conf"), xdg_home / "pip" / "pip.conf", home / ".pip" / "pip.conf"]
    candidates += [prefix / "pip.conf"]
    if explicit:
        candidates.append(Path(explicit))
    return [p for p in candidates if p.is_file()]


def _referenced_files(config: Path, environ: Mapping[str, str]) -> list[Path]:
    """Constraint and requirement files that pip's configuration names."""
    named: list[str] = []
    parser = configparser.RawConfigParser()
    try:
        parser.read(config, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return []
    for section in parser.sections():
        for key, value in parser.items(section):
            if key in _FILE_KEYS:
                named += value.split()
    return [Path(p) for p in named if Path(p).is_file()]


def _digest_or_error(path: Path) -> str:
    try:
        return file_digest(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def pip_configuration_state(prefix: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """pip's environment variables, configuration files and the files they name: anything here
    that changes may change what pip installs, so it is part of the build's cache key."""
    variables = {k: v for k, v in sorted(environ.items()) if k.startswith("PIP_")}
    files = _config_files(prefix, environ)
    referenced = [p for f in files for p in _referenced_files(f, environ)]
    for name in ("PIP_CONSTRAINT", "PIP_REQUIREMENT"):
        referenced += [Path(p) for p in environ.get(name, "").split() if Path(p).is_file()]
    return {
        "environment": variables,
        "files": [[str(p), _digest_or_error(p)] for p in files],
        "referenced": [[str(p), _digest_or_error(p)] for p in referenced],
    }


# -- pip's report ----------------------------------------------------------------------------


def _from_wheel(item: dict[str, Any]) -> bool:
    info = item.get("download_info") or {}
    if "vcs_info" in info or "dir_info" in info:
        return False
    return str(info.get("url", "")).split("#", 1)[0].endswith(".whl")


def read_install_report(path: Path) -> list[ResolvedDistribution]:
    """The distributions pip installed, from its ``--report`` JSON; every one must have come
    from a wheel (the proof that nothing was built from source)."""
    try:
        report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"pip left no readable install report ({exc})",
            hint="pip 22.2 or newer is needed (--report)",
        ) from None
    found, built = [], []
    for item in report.get("install", []):
        metadata = item.get("metadata", {})
        info = item.get("download_info", {})
        if not _from_wheel(item):
            built.append(f"{metadata.get('name')} {metadata.get('version')} ({info.get('url')})")
        hashes = info.get("archive_info", {}).get("hashes", {})
        found.append(
            ResolvedDistribution(
                name=metadata["name"],
                version=metadata["version"],
                wheel=str(info.get("url", "")).split("#", 1)[0].rsplit("/", 1)[-1],
                sha256=hashes.get("sha256"),
                requested=bool(item.get("requested", False)),
            )
        )
    if built:
        raise CheckFailedError(
            "not installed from wheels (binary-only): " + "; ".join(built),
            hint="layerforge never builds from source: use releases with wheels",
        )
    return sorted(found, key=lambda d: d.name.lower())


# -- pip's failures --------------------------------------------------------------------------

_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Connection refused|Network is unreachable|"
    r"ConnectTimeoutError|Read timed out"
)
#: ``numpy==1.26.4 from https://...``, or for a direct reference ``name@ https://... from ...``
_HASH_HEADER = re.compile(r"^\s*(?P<requirement>[^\s@]+)(?:\s*@\s*\S+)? from (?P<url>\S+)")
_HASH_GOT = re.compile(r"^\s*Got\s+(?P<got>[0-9a-f]{64})")


def _hash_mismatches(output: str) -> list[tuple[str, str, str]]:
    """(requirement, file name, sha256 seen) for each file pip refused for its hash."""
    found, current = [], None
    for line in output.splitlines():
        header = _HASH_HEADER.match(line)
        if header and "://" in header["url"]:
            current = (header["requirement"], header["url"].split("#")[0].rsplit("/", 1)[-1])
            continue
        got = _HASH_GOT.match(line)
        if got and current is not None:
            found.append((*current, got["got"]))
            current = None
    return found


def as_written(requirement: str, inputs: Inputs | None) -> str:
    """The user's own spelling of the requirement pip names (pip drops extras and markers)."""
    if inputs is None:
        return requirement
    try:
        name = canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement
    for item in inputs.requirements:
        try:
            if canonicalize_name(Requirement(item.text).name) == name:
                return item.text
        except InvalidRequirement:
            continue
    return requirement


_FULL = "No space left on device"
#: A path the installer names (pip: '...', uv: `...`), inside a build's scratch folder.
_FULL_PATH = re.compile(r"""['"`](?P<path>/[^'"`\n]*?)/layerforge-build-[^/'"`\n]+""")


def _full_folder(output: str) -> str:
    """The folder the build's scratch folder is in: as the installer's output names it, else
    where builds go (the one a path-less ``[Errno 28]`` from pip was in)."""
    found = _FULL_PATH.search(output)
    if found:
        return found["path"] or "/"
    try:
        folder, _ = build_scratch_parent()
    except UsageError:
        folder = None
    return str(folder or tempfile.gettempdir())


#: pip 25+ reports a download whose write failed (a full disk) as a dropped connection
_INCOMPLETE = re.compile(
    r"not enough bytes were received \((?P<got>\d+) bytes/(?P<size>[\d.]+) (?P<unit>[kMG]?B)\)"
)
_UNITS = {"B": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def _download_did_not_fit(output: str) -> bool:
    """pip said a download came short, and the scratch folder has not the room for the file and
    what pip writes beside it (a margin of 1 MiB: no install fits in less anyway)."""
    short = _INCOMPLETE.search(output)
    if short is None:
        return False
    missing = float(short["size"]) * _UNITS[short["unit"]] - int(short["got"])
    try:
        usage = os.statvfs(_full_folder(output))
    except OSError:
        return False
    return usage.f_bavail * usage.f_frsize < missing + 2**20 or (
        usage.f_files > 0 and usage.f_favail == 0
    )


def out_of_space_error(tail: str, output: str = "") -> BuildError:
    """An installer (pip or uv) ran out of space in the build's scratch folder."""
    folder = _full_folder(output or tail)
    return BuildError(
        f"out of disk space in {folder} while installing",
        hint=f"free space in {folder} (or point LAYERFORGE_SCRATCH or TMPDIR at a folder with "
        "room; for docker, also Docker's data root), then retry",
        details=tail,
    )


def explain_pip_failure(
    output: str, target: PipTarget, index: PackageIndex | None, inputs: Inputs | None = None
) -> LayerforgeError:
    """Turn pip's failure output into the error a user can act on."""
    tail = "\n".join(output.strip().splitlines()[-15:])
    if _FULL in output or _download_did_not_fit(output):
        return out_of_space_error(tail, output)
    for explain in (_hash_failure, _conflict):
        error = explain(output)
        if error is not None:
            mismatches = _hash_mismatches(output)
            named = mismatches[0][0] if mismatches else None
            return every_problem(error, named, target, inputs, tail)
    if _NETWORK.search(output):
        return unreachable_error("pip could not connect", tail)
    match = _NO_MATCH.search(output)
    if match:
        requirement = as_written(match.group(1), inputs)
        first = no_compatible_wheel_error(requirement, target, index, tail)
        return every_problem(first, requirement, target, inputs, tail)
    return BuildError("pip failed to install the requirements", details=tail)


def every_problem(
    first: LayerforgeError,
    named: str | None,
    target: PipTarget,
    inputs: Inputs | None,
    output: str,
) -> LayerforgeError:
    """``first``, the installer's failure for the requirement it ``named`` (no wheel for the
    target, a hash mismatch), with every other requirement's problem (``diagnosis``); any
    other failure as it is."""
    diagnosable = isinstance(first, (NoCompatibleWheelError, UsageError)) or (
        isinstance(first, CheckFailedError) and first.message.startswith("hash mismatch")
    )
    if inputs is None or named is None or not diagnosable:
        return first
    from layerforge.builder.install.diagnosis import diagnose_failure

    return diagnose_failure(first, named=named, target=target, inputs=inputs, output=output)


def _hash_failure(output: str) -> LayerforgeError | None:
    if "DO NOT MATCH THE HASHES" in output:
        mismatches = _hash_mismatches(output)
        requirement, filename, got = mismatches[0] if mismatches else ("a requirement", "?", "?")
        return CheckFailedError(
            f"hash mismatch: {requirement} downloaded as {filename} has sha256 {got}, "
            "which the requirements do not list",
            hint=HASH_HINT,
            details="\n".join(f"{r}: {f} sha256 {g}" for r, f, g in mismatches[:10]),
        )
    if "Hashes are required in --require-hashes mode" in output:
        missing = [line.strip() for line in output.splitlines() if "--hash=" in line]
        return UsageError(
            "some requirements have hashes and others do not (pip's --require-hashes mode)",
            hint="lock every requirement with its hashes, dependencies included",
            details="\n".join(missing[:10]),
        )
    return None


def _conflict(output: str) -> LayerforgeError | None:
    if "ResolutionImpossible" not in output and "conflicting dependencies" not in output:
        return None
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "The conflict is caused by" in line), None)
    cause = [line.strip() for line in lines[start + 1 : start + 8] if line.strip()] if start else []
    return CheckFailedError(
        "the requirements conflict: no set of versions satisfies all of them",
        hint="loosen or change one of the conflicting pins"
        + (f": {'; '.join(cause[:4])}" if cause else ""),
        details="\n".join(lines[-15:]),
    )


def unreachable_error(reason: str, tail: str) -> BuildError:
    return BuildError(
        f"cannot reach the package index ({reason})",
        hint="check the network (proxy variables, --index-url) and retry",
        details=tail,
    )


def no_compatible_wheel_error(
    requirement: str, target: PipTarget, index: PackageIndex | None, tail: str
) -> LayerforgeError:
    try:
        parsed = Requirement(requirement)
        name, specifier = parsed.name, parsed.specifier
    except InvalidRequirement:
        parsed, name, specifier = None, requirement, None
    if index is None:
        return NoCompatibleWheelError(
            f"no wheel of {requirement} fits {target.describe()}", details=tail
        )
    try:
        accepted = supported_tags(target.runtime, target.architecture)
        summary = index.summarise(name, accepted, target.runtime.python_version, specifier)
    except BuildError as unreachable:
        # pip says "no matching distribution" when it could not ask the index at all
        return unreachable_error(unreachable.message, tail)
    if summary.latest is None:
        return UsageError(
            f"no project named {name!r} on {index.url}",
            hint="check the spelling, or --index-url",
            details=tail,
        )
    if specifier is not None and not summary.any_matching:
        return UsageError(
            f"no release of {name} matches {requirement} (the newest is {summary.latest})",
            hint=f"check the version: the index has {name} up to {summary.latest}",
            details=tail,
        )
    return NoCompatibleWheelError(
        f"no wheel of {requirement} fits {target.describe()}",
        hint=_wheel_hint(name, summary.latest_compatible, target.runtime),
        details=tail,
    )


def _wheel_hint(name: str, newest: object, runtime: Runtime) -> str:
    if newest is None:
        return (
            f"no release of {name} publishes a wheel for this target; layerforge never "
            "compiles from source: pick another package or runtime"
        )
    from layerforge.builder.install.diagnosis import newer_glibc_runtime

    hint = f"the newest {name} with a compatible wheel is {newest}: pin {name}<={newest}"
    newer = newer_glibc_runtime(runtime)
    if newer is not None:
        hint += f", or choose a runtime with a newer glibc ({newer.name}+ has {newer.glibc})"
    return hint
