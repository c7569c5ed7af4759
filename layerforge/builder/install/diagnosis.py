"""Every problem of a failed install, named in one run.

pip and uv stop at the first requirement they cannot install: no wheel for the target, only
a source distribution, a file that is not the one locked. A user who fixes that one meets
the next on the following run. So when an install fails for one of those reasons, the
sources it used (the index, extra indexes, find-links) are asked about every requirement at
once, and the error lists each problem with the newest version that fits the target and how
to lock for it. Judging (``judge``) is a pure function of what the sources said.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from layerforge.errors import (
    BuildError,
    CheckFailedError,
    LayerforgeError,
    NoCompatibleWheelError,
    UsageError,
)
from layerforge.inputs import InputRequirement, Inputs
from layerforge.runtimes import Runtime, runtimes, supported_tags

if TYPE_CHECKING:
    from layerforge.builder.install.index import PinCheck, Sources
    from layerforge.builder.install.target import PipTarget


__all__ = [
    "HASH_HINT",
    "LockAdvice",
    "PinProblem",
    "Problem",
    "diagnose_failure",
    "find_problems",
    "judge",
    "lock_advice",
    "newer_glibc_runtime",
    "problems_error",
]

#: What to do about a file that is not the one locked (pip's and uv's hash failures alike).
HASH_HINT = (
    "a file differs from the one locked: re-lock (pip-compile --generate-hashes, uv export) "
    "if the change is expected, otherwise do not trust this index"
)

#: Projects asked about at once (each a page of the index; numpy's is 2 MB of JSON).
_CONCURRENT_QUESTIONS = 8


class Problem(str, Enum):
    NO_WHEEL = "no-wheel-for-target"
    SOURCE_ONLY = "source-only"
    HASH_MISMATCH = "hash-mismatch"
    NO_RELEASE = "no-matching-release"
    NO_PROJECT = "no-such-project"


#: Problems no lock can solve for this target without changing a version: wheels are missing.
_WHEEL_PROBLEMS = frozenset({Problem.NO_WHEEL, Problem.SOURCE_ONLY})
_USAGE_PROBLEMS = frozenset({Problem.NO_RELEASE, Problem.NO_PROJECT})


@dataclass(frozen=True)
class PinProblem:
    """One requirement that cannot be installed for the target, and what does fit."""

    requirement: str
    origin: str
    name: str
    problem: Problem
    newest: str | None = None
    newest_compatible: str | None = None
    files: tuple[tuple[str, str | None], ...] = ()  # the target's files and their sha256

    def explain(self) -> str:
        """One line: the requirement, where it was written, what is wrong, what fits."""
        fits = (
            f"the newest that fits is {self.newest_compatible}"
            if self.newest_compatible
            else "no release has a wheel that fits"
        )
        reasons = {
            Problem.NO_WHEEL: f"no wheel for this target (only for other platforms); {fits}",
            Problem.SOURCE_ONLY: f"only a source distribution (never compiled); {fits}",
            Problem.HASH_MISMATCH: "the target's file is not one the requirement locks: "
            + ", ".join(f"{name} has sha256 {digest}" for name, digest in self.files),
            Problem.NO_RELEASE: f"no release matches (the newest is {self.newest})",
            Problem.NO_PROJECT: "no project of that name on the index",
        }
        return f"{self.requirement} ({self.origin}): {reasons[self.problem]}"

    def short(self) -> str:
        if self.problem is Problem.HASH_MISMATCH:
            return f"{self.requirement} (hash mismatch)"
        if self.problem is Problem.SOURCE_ONLY and not self.newest_compatible:
            return f"{self.requirement} (source only)"
        if self.problem in _WHEEL_PROBLEMS:
            return f"{self.requirement} (newest that fits: {self.newest_compatible or 'none'})"
        return f"{self.requirement} ({self.problem.value})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "origin": self.origin,
            "name": self.name,
            "problem": self.problem.value,
            "newest": self.newest,
            "newest_compatible": self.newest_compatible,
            "files": [{"filename": f, "sha256": h} for f, h in self.files],
        }


# -- judging what the sources said (pure) -----------------------------------------------------


def _allowed_sha256(hashes: Sequence[str]) -> frozenset[str] | None:
    """The sha256 digests a requirement locks; None if it locks none (other algorithms)."""
    found = {h.split(":", 1)[1].lower() for h in hashes if h.lower().startswith("sha256:")}
    return frozenset(found) if found else None


def judge(item: InputRequirement, check: PinCheck) -> PinProblem | None:
    """The problem the sources' answer shows for ``item``, or None if it can be installed
    (as far as the sources can tell: a hash the index does not list is not judged)."""

    def problem(kind: Problem, files: tuple[tuple[str, str | None], ...] = ()) -> PinProblem:
        newest = str(check.newest) if check.newest else None
        fits = str(check.newest_compatible) if check.newest_compatible else None
        return PinProblem(item.text, item.origin, check.name, kind, newest, fits, files)

    if not check.known:
        return problem(Problem.NO_PROJECT)
    if not check.matching:
        return problem(Problem.NO_RELEASE)
    if not check.matching_compatible:
        return problem(Problem.NO_WHEEL if check.matching_wheels else Problem.SOURCE_ONLY)
    allowed = _allowed_sha256(item.hashes)
    digests = [digest for _, digest in check.chosen_files]
    if allowed is None or not digests or None in digests:
        return None
    if allowed.isdisjoint(d for d in digests if d is not None):
        return problem(Problem.HASH_MISMATCH, check.chosen_files)
    return None


# -- asking the sources -----------------------------------------------------------------------


def _named(item: InputRequirement) -> Requirement | None:
    try:
        requirement = Requirement(item.text)
    except InvalidRequirement:
        return None  # a wheel path or URL: nothing to ask an index about
    return None if requirement.url else requirement


def _pinned(requirement: Requirement) -> bool:
    return any(s.operator in ("==", "===") for s in requirement.specifier)


def _to_ask(inputs: Inputs, also: Iterable[str]) -> list[tuple[InputRequirement, Requirement]]:
    """Every named requirement once (first spelling wins), the constraints that pin a
    version, then what the installer named that the inputs do not (a dependency)."""
    asked: dict[str, tuple[InputRequirement, Requirement]] = {}
    constraints = [(c, True) for c in inputs.constraints]
    extra = [(InputRequirement(text, origin="a dependency"), False) for text in also]
    for item, constraint in [*((r, False) for r in inputs.requirements), *constraints, *extra]:
        requirement = _named(item)
        if requirement is None or (constraint and not _pinned(requirement)):
            continue
        origin = f"{item.origin}, a constraint" if constraint else item.origin
        named = InputRequirement(item.text, item.hashes, origin)
        asked.setdefault(canonicalize_name(requirement.name), (named, requirement))
    return list(asked.values())


def _environment_sources(inputs: Inputs) -> Sources:
    """The sources the install used: the inputs', and pip's environment variables for them."""
    from layerforge.builder.install.index import Sources

    extra = [*inputs.extra_index_urls, *os.environ.get("PIP_EXTRA_INDEX_URL", "").split()]
    links = [*inputs.find_links, *os.environ.get("PIP_FIND_LINKS", "").split()]
    return Sources(inputs.index_url, extra, links, no_index=inputs.no_index)


def find_problems(
    inputs: Inputs,
    target: PipTarget,
    *,
    also: Iterable[str] = (),
    sources: Sources | None = None,
) -> tuple[list[PinProblem], list[str]]:
    """Every requirement's problem for ``target``, in the inputs' order, and the projects the
    sources could not be asked about (with why). ``also``: requirements the installer named
    that the inputs may not (a dependency)."""
    sources = sources or _environment_sources(inputs)
    accepted = supported_tags(target.runtime, target.architecture)
    python = target.runtime.python_version
    asked = _to_ask(inputs, also)

    def ask(pair: tuple[InputRequirement, Requirement]) -> PinProblem | str | None:
        item, requirement = pair
        try:
            check = sources.check(requirement.name, requirement.specifier, accepted, python)
        except BuildError as unreachable:
            return f"{requirement.name}: {unreachable.message}"
        return judge(item, check)

    problems: list[PinProblem] = []
    unchecked: list[str] = []
    with ThreadPoolExecutor(_CONCURRENT_QUESTIONS, thread_name_prefix="layerforge-ask") as pool:
        for answer in pool.map(ask, asked):
            if isinstance(answer, PinProblem):
                problems.append(answer)
            elif isinstance(answer, str):
                unchecked.append(answer)
    return problems, unchecked


# -- how to lock for the target ---------------------------------------------------------------


@dataclass(frozen=True)
class LockAdvice:
    """How to lock for the target: layerforge's command, and uv's until it exists."""

    command: str
    uv_command: str | None
    uv_exact: bool
    caveat: str

    def lines(self) -> list[str]:
        found = [f"lock for the target: {self.command}"]
        if self.uv_command:
            how = "exact" if self.uv_exact else f"approximate: {self.caveat}"
            found.append(f"until 'layerforge lock' is available: {self.uv_command} ({how})")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "uv_command": self.uv_command,
            "uv_exact": self.uv_exact,
            "caveat": self.caveat,
        }


def lock_advice(target: PipTarget) -> LockAdvice:
    from layerforge.builder.install.choice import uv_platform, uv_platform_within

    runtime, arch = target.runtime, target.architecture
    command = (
        f"layerforge lock -r requirements.in --runtime {runtime.name} --arch {arch.value} "
        "-o requirements.lock"
    )
    platform = uv_platform_within(runtime, arch)
    if platform is None:
        return LockAdvice(command, None, False, "uv names no glibc at or below the runtime's")
    uv = (
        f"uv pip compile requirements.in --python-version {runtime.python_version} "
        f"--python-platform {platform} --only-binary :all: --generate-hashes "
        "-o requirements.lock"
    )
    above = int(platform.rsplit("_", 1)[-1]) + 1
    caveat = (
        f"uv cannot name glibc {runtime.glibc}: wheels tagged only for glibc 2.{above} to "
        f"{runtime.glibc} are missed"
    )
    return LockAdvice(command, uv, uv_platform(runtime, arch) is not None, caveat)


def newer_glibc_runtime(runtime: Runtime) -> Runtime | None:
    """The oldest runtime with a newer glibc than ``runtime``'s (python3.12 for python3.11)."""
    newer = [r for r in runtimes() if r.glibc > runtime.glibc and not r.deprecated]
    return min(newer, key=lambda r: (r.glibc, r.python), default=None)


# -- the one error ----------------------------------------------------------------------------


def _lockable(problems: Sequence[PinProblem]) -> bool:
    """Whether a lock for the target would solve some problem: a release with a wheel fits."""
    return any(p.problem in _WHEEL_PROBLEMS and p.newest_compatible for p in problems)


def _wheel_hint(problems: Sequence[PinProblem], target: PipTarget) -> str:
    pins = [f"{p.name}=={p.newest_compatible}" for p in problems if p.newest_compatible]
    none = [p.name for p in problems if not p.newest_compatible]
    advice = lock_advice(target)
    parts = []
    if _lockable(problems):
        parts.append(f"lock for the target ({advice.command}; the command for now is above)")
    if pins:
        parts.append("or pin each to the newest that fits: " + " ".join(pins))
    newer = newer_glibc_runtime(target.runtime)
    if newer is not None:
        parts.append(f"or choose a runtime with a newer glibc ({newer.name}+ has {newer.glibc})")
    if none:
        parts.append(
            f"no release of {', '.join(none)} has a wheel for this target and layerforge "
            "never compiles from source: pick another package or runtime for it"
        )
    return "; ".join(parts)


def _message(problems: Sequence[PinProblem], target: PipTarget) -> str:
    kinds = {p.problem for p in problems}
    where = target.describe()
    if kinds <= _WHEEL_PROBLEMS:
        listed = ", ".join(p.requirement for p in problems)
        return f"no wheel fits {where} for {len(problems)} requirements: {listed}"
    if kinds == {Problem.HASH_MISMATCH}:
        listed = "; ".join(
            f"{p.requirement} ({', '.join(f'{f} has sha256 {h}' for f, h in p.files)})"
            for p in problems
        )
        return (
            f"hash mismatch in {len(problems)} requirements (the index serves files the "
            f"requirements do not lock): {listed}"
        )
    listed = ", ".join(p.short() for p in problems)
    return f"{len(problems)} requirements cannot be installed for {where}: {listed}"


def _hint(problems: Sequence[PinProblem], target: PipTarget) -> str:
    kinds = {p.problem for p in problems}
    parts = []
    wheels = [p for p in problems if p.problem in _WHEEL_PROBLEMS]
    if wheels:
        parts.append(_wheel_hint(wheels, target))
    if Problem.HASH_MISMATCH in kinds:
        parts.append(HASH_HINT)
    if kinds & _USAGE_PROBLEMS:
        parts.append("check the names and versions marked no-such-project / no-matching-release")
    return "; ".join(parts)


def _error_class(problems: Sequence[PinProblem]) -> type[LayerforgeError]:
    kinds = {p.problem for p in problems}
    if kinds <= _USAGE_PROBLEMS:
        return UsageError
    return NoCompatibleWheelError if kinds & _WHEEL_PROBLEMS else CheckFailedError


def _details(
    problems: Sequence[PinProblem], target: PipTarget, unchecked: Sequence[str], output: str
) -> tuple[str, dict[str, Any]]:
    lines = [p.explain() for p in problems]
    advice = lock_advice(target)
    wheels = _lockable(problems)
    if wheels:
        lines += advice.lines()
    if unchecked:
        lines.append("not checked (the index did not answer): " + "; ".join(unchecked))
    data = {
        "target": {
            "runtime": target.runtime.name,
            "architecture": target.architecture.value,
            "glibc": str(target.runtime.glibc),
        },
        "problems": [p.to_dict() for p in problems],
        "lock": advice.to_dict() if wheels else None,
        "unchecked": list(unchecked),
        "output": output,
    }
    return "\n".join(lines), data


def problems_error(
    problems: Sequence[PinProblem],
    target: PipTarget,
    *,
    first: LayerforgeError,
    unchecked: Sequence[str] = (),
    output: str = "",
) -> LayerforgeError:
    """One error for every problem: ``first`` (the installer's own, already explained) keeps
    its words when it is the only one; the details list each and how to lock for the target."""
    text, data = _details(problems, target, unchecked, output)
    if len(problems) == 1:
        hint = first.hint or ""
        if _lockable(problems):
            hint += f"; or lock for the target: {lock_advice(target).command} (see above)"
        return type(first)(first.message, hint=hint.lstrip("; "), details=text, data=data)
    return _error_class(problems)(
        _message(problems, target), hint=_hint(problems, target), details=text, data=data
    )


def _same_project(problem: PinProblem, requirement: str) -> bool:
    try:
        return canonicalize_name(Requirement(requirement).name) == canonicalize_name(problem.name)
    except InvalidRequirement:
        return False


def diagnose_failure(
    first: LayerforgeError,
    *,
    named: str | None,
    target: PipTarget,
    inputs: Inputs,
    output: str,
) -> LayerforgeError:
    """``first`` (the installer's failure, explained for the requirement it ``named``) with
    every other requirement's problem; ``first`` alone if the sources show no other."""
    problems, unchecked = find_problems(inputs, target, also=[named] if named else [])
    if not problems or (named and not any(_same_project(p, named) for p in problems)):
        # the sources do not show what the installer saw (it may know other sources): its
        # own explanation is the one to trust
        return first
    return problems_error(problems, target, first=first, unchecked=unchecked, output=output)
