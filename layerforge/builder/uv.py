"""uv as the cross backend's installer, where its target is exactly the runtime's.

uv installs the same wheels several times faster than pip, but its ``--python-platform`` names
only some glibc levels: ``manylinux_2_34`` (Amazon Linux 2023: python3.12 and later) is one,
``manylinux_2_26`` (Amazon Linux 2) is not, and asking for 2_17 there would miss wheels tagged
2_24 or 2_26. So ``--installer auto`` takes uv only where the runtime's glibc is a level uv
names, and pip otherwise, and says why; ``--installer uv`` elsewhere is refused.

uv writes no install report: what was installed is read from the tree's ``*.dist-info``
(name, version, the wheel's tags), and binary-only is held twice, by ``--only-binary :all:``
and by refusing any distribution without a ``WHEEL`` file or installed from a directory or
VCS. uv reports no wheel hashes, so the manifest records none for uv builds
(hashes in the requirements are still enforced by uv).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name, parse_wheel_filename

from layerforge.builder.pip import (
    PipTarget,
    no_compatible_wheel_error,
    out_of_space_error,
    source_arguments,
    unreachable_error,
    write_install_files,
)
from layerforge.builder.result import ResolvedDistribution
from layerforge.errors import BuildError, CheckFailedError, LayerforgeError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.inputs import Inputs
from layerforge.interpreters import remembered_output
from layerforge.processes import Completed, run_streaming
from layerforge.runtimes import Architecture, Runtime

if TYPE_CHECKING:
    from layerforge.builder.index import PackageIndex

__all__ = [
    "install_with_uv",
    "read_installed",
    "unpack_platform",
    "unpack_with_uv",
    "uv_binary",
    "uv_platform",
    "uv_version",
]

#: glibc levels uv's --python-platform names (uv --help: manylinux_2_17, 2_28, 2_31 .. 2_40);
#: Amazon Linux 2's 2_26 is not among them
_UV_GLIBC_MINORS = frozenset({17, 28, *range(31, 41)})
_UV_ARCH = {Architecture.X86_64: "x86_64", Architecture.ARM64: "aarch64"}
_NO_WHEEL = re.compile(
    r"(?:Because |\b)(?P<name>[A-Za-z0-9_.-]+)(?:==\S+)? (?:has no wheels with a matching "
    r"(?:platform|Python ABI|Python implementation) tag|has no usable wheels|only has source "
    r"distributions)"
)
_NOT_FOUND = re.compile(r"Because (?P<name>[A-Za-z0-9_.-]+) was not found in the package registry")
_UNUSABLE_CACHE = "Failed to initialize cache"
_NETWORK = re.compile(r"(?i)failed to fetch|connection refused|dns error|timed out|network")


def uv_binary() -> str | None:
    """uv from the ``uv`` package (installed with layerforge's ``uv`` extra), else on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        from shutil import which

        return which("uv")


def uv_version(binary: str) -> str:
    return remembered_output(Path(binary), ["--version"]) or "unknown (uv --version failed)"


def uv_platform(runtime: Runtime, arch: Architecture) -> str | None:
    """uv's --python-platform for exactly the runtime's glibc, or None where uv has none."""
    if runtime.glibc.major != 2 or runtime.glibc.minor not in _UV_GLIBC_MINORS:
        return None
    return f"{_UV_ARCH[arch]}-manylinux_2_{runtime.glibc.minor}"


def unpack_platform(runtime: Runtime, arch: Architecture) -> str | None:
    """uv's lowest ``--python-platform`` at or above the runtime's glibc. It accepts every
    wheel pip chose for the runtime, and nothing is chosen under it: uv only installs the files
    pip downloaded."""
    levels = sorted(m for m in _UV_GLIBC_MINORS if m >= runtime.glibc.minor)
    if runtime.glibc.major != 2 or not levels:
        return None
    return f"{_UV_ARCH[arch]}-manylinux_2_{levels[0]}"


def _install_options(
    platform: str, runtime: Runtime, tree: Path, python: str, link: str = "copy"
) -> list[str]:
    """``uv pip install`` into ``tree`` for the target, whatever the requirements are. The
    tree is rewritten afterwards (strip, RECORD), so files are copied out of the user's uv
    cache; only a cache of the build's own (``link="hardlink"``) may share them."""
    return [
        "pip",
        "install",
        "--python",
        python,  # named: uv's own search (through pyenv shims, say) costs a fifth of a second
        "--target",
        str(tree),
        "--python-platform",
        platform,
        "--python-version",
        runtime.python_version,
        "--only-binary",
        ":all:",
        "--link-mode",
        link,
        "--no-progress",
        "--no-config",  # layerforge's inputs decide the index, not a uv.toml found nearby
    ]


def _arguments(
    platform: str,
    runtime: Runtime,
    *,
    tree: Path,
    files: tuple[Path, Path | None],
    inputs: Inputs,
    python: str,
) -> list[str]:
    requirements, constraints = files
    args = [*_install_options(platform, runtime, tree, python), "-r", str(requirements)]
    if constraints is not None:
        args += ["-c", str(constraints)]
    return args + source_arguments(
        inputs, trusted_host="--allow-insecure-host", pre="--prerelease=allow"
    )


def _wheel_name(name: str, version: str, tags: list[str]) -> str:
    """The wheel's file name from its WHEEL tags, compressed as wheel files spell them."""
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for index, piece in enumerate(tag.split("-")):
            if piece not in parts[index]:
                parts[index].append(piece)
    distribution = re.sub(r"[-_.]+", "_", name)
    return f"{distribution}-{version}-{'-'.join('.'.join(p) for p in parts)}.whl"


def read_installed(tree: Path, requested: frozenset[str]) -> list[ResolvedDistribution]:
    """The distributions in ``tree`` as uv left them; each must have come from a wheel.
    ``requested``: the canonical names the requirements name (uv marks every one REQUESTED)."""
    from email.parser import HeaderParser  # only after an install: warm builds never need it

    found, built = [], []
    for dist_info in sorted(tree.glob("*.dist-info")):
        metadata = HeaderParser().parsestr(
            (dist_info / "METADATA").read_text("utf-8", errors="replace")
        )
        name, version = str(metadata.get("Name", "")), str(metadata.get("Version", ""))
        wheel = dist_info / "WHEEL"
        direct = dist_info / "direct_url.json"
        origin = json.loads(direct.read_text("utf-8")) if direct.is_file() else {}
        if not wheel.is_file() or "dir_info" in origin or "vcs_info" in origin:
            built.append(f"{name} {version} ({origin.get('url', 'no WHEEL file')})")
            continue
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text("utf-8", errors="replace").splitlines()
            if line.startswith("Tag:")
        ]
        found.append(
            ResolvedDistribution(
                name=name,
                version=version,
                wheel=_wheel_name(name, version, tags),
                sha256=None,
                requested=canonicalize_name(name) in requested,
            )
        )
    if built:
        raise CheckFailedError(
            "not installed from wheels (binary-only): " + "; ".join(built),
            hint="layerforge never builds from source: use releases with wheels",
        )
    return sorted(found, key=lambda d: d.name.lower())


def _plain_failure(output: str, tail: str) -> LayerforgeError | None:
    if "No space left on device" in output:
        return out_of_space_error(tail)
    if "hash mismatch" in output.lower():
        return CheckFailedError(
            "hash mismatch: a downloaded file is not the one the requirements lock",
            hint="re-lock if the change is expected, otherwise do not trust this index",
            details=tail,
        )
    if "No solution found" in output:
        return CheckFailedError(
            "the requirements conflict, or a requirement has no release for this target",
            hint="see uv's explanation below; --installer pip gives pip's",
            details=tail,
        )
    return None


def explain_uv_failure(output: str, target: PipTarget, index: PackageIndex) -> LayerforgeError:
    """Turn uv's failure output into the error a user can act on (as pip's are)."""
    tail = "\n".join(output.strip().splitlines()[-15:])
    missing = _NOT_FOUND.search(output)
    if missing:
        return UsageError(
            f"no project named {missing['name']!r} on {index.url}",
            hint="check the spelling, or --index-url",
            details=tail,
        )
    no_wheel = _NO_WHEEL.search(output)
    if no_wheel:
        return no_compatible_wheel_error(no_wheel["name"], target, index, tail)
    plain = _plain_failure(output, tail)
    if plain is not None:
        return plain
    if _NETWORK.search(output):
        return unreachable_error("uv could not connect", tail)
    return BuildError("uv failed to install the requirements", details=tail)


def _run_uv(command: list[str], *, scratch: Path, tree: Path, sink: EventSink) -> Completed:
    temporary = scratch / "tmp"
    temporary.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(temporary), "UV_NO_PROGRESS": "1"}

    def attempt(arguments: list[str]) -> Completed:
        done = run_streaming(
            arguments,
            env=environment,
            on_line=lambda line: sink(Event(EventKind.PROGRESS, "resolve", line)),
        )
        (tree / ".lock").unlink(missing_ok=True)  # uv's lock on the target folder
        return done

    done = attempt(command)
    if done.returncode != 0 and _UNUSABLE_CACHE in done.output:
        # an unwritable HOME or UV_CACHE_DIR costs uv its cache, not the build
        note = "uv's cache is not usable here: this install uses a cache in the scratch folder"
        sink(Event(EventKind.NOTE, "resolve", note))
        done = attempt([*command, "--cache-dir", str(scratch / "uv-cache")])
    return done


def unpack_with_uv(
    binary: str,
    platform: str,
    target: PipTarget,
    *,
    tree: Path,
    scratch: Path,
    wheels: list[Path],
    python: str,
    sink: EventSink,
) -> None:
    """Install exactly ``wheels`` (one folder of them, as ``pip download`` left it) into
    ``tree``: no index, no dependencies, each pinned to its own file's name and version."""
    pins = []
    for wheel in wheels:
        name, version, _, _ = parse_wheel_filename(wheel.name)
        pins.append(f"{name}=={version}")
    # the wheels are fresh files in a fresh folder: the user's uv cache could never reuse them,
    # so uv unpacks into a cache in the scratch folder, and the tree links to it
    options = _install_options(platform, target.runtime, tree, python, link="hardlink")
    where = ["--no-deps", "--no-index", "--find-links", str(wheels[0].parent)]
    where += ["--cache-dir", str(scratch / "uv-cache")]
    done = _run_uv([binary, *options, *where, *pins], scratch=scratch, tree=tree, sink=sink)
    if done.returncode != 0:
        tail = "\n".join(done.output.strip().splitlines()[-15:])
        failure = _plain_failure(done.output, tail)
        raise failure or BuildError("uv failed to install the wheels pip chose", details=tail)


def install_with_uv(
    binary: str,
    platform: str,
    target: PipTarget,
    *,
    tree: Path,
    scratch: Path,
    inputs: Inputs,
    python: str,
    sink: EventSink,
) -> list[ResolvedDistribution]:
    """uv installs for ``target`` into ``tree``; ``python`` (the runtime's version where the
    host has it) is the interpreter whose markers uv evaluates, as pip's is for pip."""
    files = write_install_files(scratch, inputs)
    args = _arguments(
        platform, target.runtime, tree=tree, files=files, inputs=inputs, python=python
    )
    done = _run_uv([binary, *args], scratch=scratch, tree=tree, sink=sink)
    if done.returncode != 0:
        from layerforge.builder.index import PackageIndex

        raise explain_uv_failure(done.output, target, PackageIndex(inputs.index_url))
    return read_installed(tree, inputs.named_projects())
