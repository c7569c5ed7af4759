"""Running uv: it resolves and installs (``uv``), or installs exactly the wheels pip chose
(``pip+uv``); ``installers`` decides which, and where.

uv writes no install report: what was installed is read from the tree's ``*.dist-info``
(name, version, the wheel's tags), and binary-only is held twice, by ``--only-binary :all:``
and by refusing any distribution without a ``WHEEL`` file or installed from a directory or
VCS. uv reports no wheel hashes, so the manifest records none for uv builds
(hashes in the requirements are still enforced by uv); pip+uv builds record the sha256 of
each file pip downloaded.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from layerforge.archive import sha256_of
from layerforge.builder.install.choice import InstallPlan
from layerforge.builder.install.diagnosis import HASH_HINT
from layerforge.builder.install.pip import (
    InstallFiles,
    as_written,
    download_arguments,
    every_problem,
    install_arguments,
    no_compatible_wheel_error,
    out_of_space_error,
    read_install_report,
    source_arguments,
    unreachable_error,
    write_install_files,
)
from layerforge.builder.install.target import PipTarget
from layerforge.builder.result import ResolvedDistribution
from layerforge.errors import BuildError, CheckFailedError, LayerforgeError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.inputs import Inputs
from layerforge.interrupts import WorkerPool
from layerforge.processes import Completed, run_streaming
from layerforge.runtimes import Runtime

if TYPE_CHECKING:
    from layerforge.builder.install.index import PackageIndex

__all__ = ["PipRun", "install_downloaded", "install_with_uv", "read_installed"]

_NO_WHEEL = re.compile(
    r"(?:Because |\b)(?P<name>[A-Za-z0-9_.-]+)(?:==\S+)? (?:has no wheels with a matching "
    r"(?:platform|Python ABI|Python implementation) tag|has no usable wheels|only has source "
    r"distributions)"
)
_NOT_FOUND = re.compile(r"Because (?P<name>[A-Za-z0-9_.-]+) was not found in the package registry")
_HASH_MISMATCH = re.compile(
    r"Hash mismatch for `(?P<requirement>[^`]+)`(?:.*?Computed:\s*sha256:(?P<got>[0-9a-f]{64}))?",
    re.DOTALL,
)
_UNUSABLE_CACHE = "Failed to initialize cache"
_NETWORK = re.compile(r"(?i)failed to fetch|connection refused|dns error|timed out|network")


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
        return out_of_space_error(tail, output)
    mismatch = _HASH_MISMATCH.search(output)
    if mismatch:
        got = f" with sha256 {mismatch['got']}" if mismatch["got"] else ""
        return CheckFailedError(
            f"hash mismatch: {mismatch['requirement']} downloaded{got}, which the "
            "requirements do not list",
            hint=HASH_HINT,
            details=tail,
        )
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


def explain_uv_failure(
    output: str, target: PipTarget, index: PackageIndex, inputs: Inputs | None = None
) -> LayerforgeError:
    """Turn uv's failure output into the error a user can act on (as pip's are): with the
    ``inputs``, every requirement's problem, not only the first one uv met."""
    tail = "\n".join(output.strip().splitlines()[-15:])
    missing = _NOT_FOUND.search(output)
    if missing:
        first: LayerforgeError = UsageError(
            f"no project named {missing['name']!r} on {index.url}",
            hint="check the spelling, or --index-url",
            details=tail,
        )
        return every_problem(first, missing["name"], target, inputs, tail)
    no_wheel = _NO_WHEEL.search(output)
    if no_wheel:
        named = as_written(no_wheel["name"], inputs)
        first = no_compatible_wheel_error(named, target, index, tail)
        return every_problem(first, named, target, inputs, tail)
    plain = _plain_failure(output, tail)
    if plain is not None:
        mismatch = _HASH_MISMATCH.search(output)
        return every_problem(plain, mismatch and mismatch["requirement"], target, inputs, tail)
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
    if _needs_own_cache(command, done):
        # an unwritable HOME or UV_CACHE_DIR costs uv its cache, not the build
        note = "uv's cache is not usable here: this install uses a cache in the scratch folder"
        sink(Event(EventKind.NOTE, "resolve", note))
        done = attempt([*command, "--cache-dir", str(scratch / "uv-cache")])
    return done


def _needs_own_cache(command: list[str], done: Completed) -> bool:
    """uv failed because the user's cache is unusable, and a cache in the scratch folder may do.
    Not when the cache already is the build's own: naming a second ``--cache-dir`` only made uv
    refuse its arguments, hiding why the first failed (a full scratch disk, say)."""
    return done.returncode != 0 and _UNUSABLE_CACHE in done.output and "--cache-dir" not in command


def install_downloaded(
    uv: tuple[str, str],
    target: PipTarget,
    *,
    tree: Path,
    scratch: Path,
    wheelhouse: Path,
    python: str,
    requested: frozenset[str],
    sink: EventSink,
) -> list[ResolvedDistribution]:
    """uv installs exactly the files pip downloaded into ``wheelhouse`` (no index, no
    dependencies, each pinned to its own file's name and version); the manifest names those
    files and their sha256. ``uv``: its binary and ``--python-platform``; ``requested``: the
    canonical names the requirements name."""
    binary, platform = uv
    files = sorted(wheelhouse.iterdir()) if wheelhouse.is_dir() else []
    sources = [f.name for f in files if f.suffix != ".whl"]
    if sources:
        raise CheckFailedError(
            "not installed from wheels (binary-only): " + "; ".join(sources),
            hint="layerforge never builds from source: use releases with wheels",
        )
    if not files:
        return []
    chosen: dict[tuple[str, str], Path] = {}
    for wheel in files:
        try:
            name, version, _, _ = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename as exc:
            raise CheckFailedError(
                f"pip chose a file that is not named as a wheel must be: {wheel.name} ({exc})",
                hint="rename or rebuild that wheel (name-version-tags.whl)",
            ) from None
        chosen[(name, str(version))] = wheel
    pins = [f"{name}=={version}" for name, version in chosen]
    # the wheels are fresh files in a fresh folder: the user's uv cache could never reuse them,
    # so uv unpacks into a cache in the scratch folder, and the tree links to it
    options = _install_options(platform, target.runtime, tree, python, link="hardlink")
    where = ["--no-deps", "--no-index", "--find-links", str(wheelhouse)]
    where += ["--cache-dir", str(scratch / "uv-cache")]
    with WorkerPool(1, thread_name_prefix="layerforge-hash") as hasher:
        # the manifest's sha256s are read while uv unpacks (hashing releases the lock)
        digests = {wheel: hasher.submit(sha256_of, wheel) for wheel in files}
        done = _run_uv([binary, *options, *where, *pins], scratch=scratch, tree=tree, sink=sink)
    if done.returncode != 0:
        tail = "\n".join(done.output.strip().splitlines()[-15:])
        failure = _plain_failure(done.output, tail)
        raise failure or BuildError("uv failed to install the wheels pip chose", details=tail)
    found = []
    for dist in read_installed(tree, requested):
        source = chosen.pop((canonicalize_name(dist.name), str(Version(dist.version))), None)
        if source is None:
            raise BuildError(f"uv installed {dist.name} {dist.version}, which pip did not choose")
        found.append(replace(dist, wheel=source.name, sha256=digests[source].result()))
    if chosen:
        missing = ", ".join(w.name for w in chosen.values())
        raise BuildError(f"uv did not install every wheel pip chose: {missing}")
    return found


@dataclass(frozen=True)
class PipRun:
    """One pip run of a build, as its plan says: pip installs into ``tree`` and writes its
    ``report`` (``pip``), or downloads into ``wheelhouse`` for uv to install exactly those
    files (``pip+uv``). Both backends' sessions run pip through it."""

    plan: InstallPlan
    target: PipTarget
    tree: Path
    wheelhouse: Path
    report: Path

    def arguments(
        self, files: InstallFiles, inputs: Inputs, where: Callable[[Path], str] = str
    ) -> list[str]:
        """pip's arguments; ``where`` names a folder as pip sees it (inside a container)."""
        if self.plan.name == "pip+uv":
            dest = where(self.wheelhouse)
            return download_arguments(target=self.target, dest=dest, files=files, inputs=inputs)
        into = where(self.tree)
        return install_arguments(target=self.target, install_dir=into, files=files, inputs=inputs)

    def installed(
        self, *, scratch: Path, python: str, inputs: Inputs, sink: EventSink
    ) -> list[ResolvedDistribution]:
        """What is in the tree once pip succeeded: pip's report, or uv's install of pip's files
        (``python``: the host interpreter uv installs for)."""
        if self.plan.name != "pip+uv":
            return read_install_report(self.report)
        return install_downloaded(
            self.plan.uv,
            self.target,
            tree=self.tree,
            scratch=scratch,
            wheelhouse=self.wheelhouse,
            python=python,
            requested=inputs.named_projects(),
            sink=sink,
        )


def install_with_uv(
    uv: tuple[str, str],
    target: PipTarget,
    *,
    tree: Path,
    scratch: Path,
    inputs: Inputs,
    python: str,
    sink: EventSink,
) -> list[ResolvedDistribution]:
    """uv installs for ``target`` into ``tree``; ``python`` (the runtime's version where the
    host has it) is the interpreter whose markers uv evaluates, as pip's is for pip; ``uv``: its
    binary and ``--python-platform``."""
    binary, platform = uv
    files = write_install_files(scratch, inputs)
    args = _arguments(
        platform, target.runtime, tree=tree, files=files, inputs=inputs, python=python
    )
    done = _run_uv([binary, *args], scratch=scratch, tree=tree, sink=sink)
    if done.returncode != 0:
        # 16 ms, only to explain a failure
        from layerforge.builder.install.index import PackageIndex

        raise explain_uv_failure(done.output, target, PackageIndex(inputs.index_url), inputs)
    return read_installed(tree, inputs.named_projects())
