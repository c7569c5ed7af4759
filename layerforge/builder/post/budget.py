"""Lambda's unzipped budget, checked as soon as a build knows its sizes: after install, prune
and strip, while bytecode compiles (over already without it: the build stops there), then
exactly once bytecode is done, before the zip (a zip's unzipped size is its files' bytes).
A build over it is reported so that the user sees what to cut: every distribution's size and
share, what each optional step saves or costs, the leaner alternatives known for what is
there (``data/alternatives.json``) and the ways out. The report is kept beside the output
under a name no tool takes for a layer or a manifest.

Every figure this module cannot measure in the build comes from ``data/step-costs.json``,
with its source.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from layerforge.builder.output.placement import rejected_report_path
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import (
    BuildResult,
    DistributionShare,
    OptionCost,
    OverBudgetReport,
    ResolvedDistribution,
    StepReport,
)
from layerforge.errors import BudgetExceededError
from layerforge.interrupts import deferred
from layerforge.runtimes import LIMITS

if TYPE_CHECKING:
    from layerforge.builder.post.inventory import TreeInventory

__all__ = [
    "Budget",
    "LayerSizes",
    "bytecode_size",
    "check_cached",
    "check_tree",
    "keep_rejected",
    "over_budget_error",
    "over_budget_report",
]

_EARLY = "after install, prune and strip, before bytecode and zip"
_EXACT = "after bytecode, before zip"
_NO_BYTECODE = "after install, prune and strip, before zip"


def _mb(count: int) -> str:
    """Megabytes as the README and Lambda's quotas write them (250 MB = 262,144,000 bytes
    is 250 MiB; figures here are 10^6 bytes, like the README's tables)."""
    return f"{count / 1e6:.1f} MB"


@cache
def _data(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        resources.files("layerforge.data").joinpath(name).read_text("utf-8")
    )
    return document


@dataclass(frozen=True)
class Budget:
    """The budget a build is held to: Lambda's, or a lower ``--max-unzipped``."""

    limit: int
    name: str

    @classmethod
    def of(cls, spec: LayerSpec) -> Budget:
        lambdas = LIMITS.unzipped_bytes
        if spec.max_unzipped is not None and spec.max_unzipped < lambdas:
            return cls(spec.max_unzipped, f"--max-unzipped {spec.max_unzipped:,}")
        return cls(lambdas, f"Lambda's {lambdas:,}-byte budget (function + all layers)")


@dataclass(frozen=True)
class BytecodeSize:
    """.pyc bytes per .py byte, as measured (``data/step-costs.json``): the median is the
    estimate. It is only an estimate (idna's data tables compile to half their source, six to
    1.34 times it), so no build is rejected on it."""

    typical: float
    source: str

    def estimate(self, source_bytes: int) -> int:
        return round(source_bytes * self.typical)


@cache
def bytecode_size() -> BytecodeSize:
    import statistics  # an over-budget build's only: warm builds never load it

    size = _data("step-costs.json")["bytecode"]["size"]
    ratios = [m["pyc_bytes"] / m["py_bytes"] for m in size["measurements"]]
    return BytecodeSize(statistics.median(ratios), str(size["source"]))


@dataclass(frozen=True)
class LayerSizes:
    """What a build knows of its size at one point: bytes per canonical distribution name
    (and each one's version), the Python sources and shared libraries among them, the
    largest files, and the bytecode's exact bytes once it was compiled (None: not yet, or
    not at all)."""

    distributions: Mapping[str, int]
    versions: Mapping[str, str]
    source_bytes: int
    shared_library_bytes: int
    largest: Sequence[tuple[str, int, str]]
    bytecode_bytes: int | None = None

    @property
    def known(self) -> int:
        return sum(self.distributions.values())


# -- the report (pure) ---------------------------------------------------------------------------


def _shares(sizes: LayerSizes) -> list[DistributionShare]:
    total = sizes.known or 1
    ranked = sorted(sizes.distributions.items(), key=lambda item: (-item[1], item[0]))
    return [
        DistributionShare(name, sizes.versions.get(name, ""), size, round(size / total, 4))
        for name, size in ranked
    ]


def _verdict(remaining: int, budget: Budget) -> str:
    if remaining <= budget.limit:
        return f"the layer would then take {_mb(remaining)}, within the budget"
    return f"still {remaining - budget.limit:,} bytes over"


def _bytecode_option(
    spec: LayerSpec, sizes: LayerSizes, total: int, budget: Budget, compiles: bool
) -> OptionCost:
    cold = _data("step-costs.json")["bytecode"]["cold_import"]
    saved = round(float(cold["seconds_without"]) - float(cold["seconds_with"]), 2)
    timing = (
        f"every cold start then compiles what it imports (measured: {cold['modules']} "
        f"imported in {cold['seconds_without']} s without .pyc, {cold['seconds_with']} s with)"
    )
    ratio = bytecode_size()
    estimated = sizes.bytecode_bytes is None
    added = ratio.estimate(sizes.source_bytes) if estimated else sizes.bytecode_bytes or 0
    about = "about " if estimated else ""
    if compiles:
        advice = (
            f"--no-bytecode saves {about}{_mb(added)} ({_verdict(total - added, budget)}); "
            + timing
        )
    else:
        why = (
            "--no-bytecode"
            if not spec.compile_bytecode
            else f"no python{spec.runtime.python_version} on this host"
        )
        advice = (
            f"bytecode is off ({why}): it would add about {_mb(added)} and save each cold "
            f"start about {saved} s ({cold['modules']})"
        )
    source = cold["source"] + ("; size: " + ratio.source if estimated else "")
    return OptionCost("bytecode", compiles, -added, estimated, advice, saved, source)


def _strip_option(spec: LayerSpec, sizes: LayerSizes, steps: Sequence[StepReport]) -> OptionCost:
    ran = next((s for s in steps if s.name == "strip" and s.applied), None)
    if ran is not None:
        advice = f"strip --strip-unneeded saved {_mb(ran.bytes_saved)} (already applied)"
        return OptionCost("strip", True, ran.bytes_saved, False, advice)
    facts = _data("step-costs.json")["strip"]
    fraction = 1 - facts["shared_library_bytes_after"] / facts["shared_library_bytes_before"]
    saves = int(sizes.shared_library_bytes * fraction)
    why = "--no-strip" if not spec.strip_binaries else "no strip tool for the target"
    advice = (
        f"strip is off ({why}): it would save about {_mb(saves)} of the "
        f"{_mb(sizes.shared_library_bytes)} in shared libraries (the seed's lost {fraction:.0%})"
    )
    return OptionCost("strip", False, saves, True, advice, source=facts["source"])


def _prune_option(steps: Sequence[StepReport]) -> OptionCost | None:
    ran = next((s for s in steps if s.name == "prune"), None)
    if ran is None:
        return None
    advice = f"prune saved {_mb(ran.bytes_saved)} (tests, caches, headers; already applied)"
    return OptionCost("prune", True, ran.bytes_saved, False, advice)


def _matches(entry: Mapping[str, Any], name: str) -> bool:
    import fnmatch  # an over-budget build's only

    return name in entry.get("distributions", []) or any(
        fnmatch.fnmatchcase(name, pattern) for pattern in entry.get("patterns", [])
    )


def _alternatives(sizes: LayerSizes, total: int, budget: Budget) -> list[dict[str, Any]]:
    found = []
    for entry in _data("alternatives.json")["alternatives"]:
        names = sorted(n for n in sizes.distributions if _matches(entry, n))
        if not names:
            continue
        taken = sum(sizes.distributions[n] for n in names)
        found.append(
            {
                "distributions": names,
                "unzipped_bytes": taken,
                "without": total - taken,
                "fits_without": total - taken <= budget.limit,
                "advice": entry["advice"],
                "sources": list(entry["sources"]),
            }
        )
    return sorted(found, key=lambda a: -int(a["unzipped_bytes"]))


def _ways_out(total: int) -> list[dict[str, Any]]:
    ways = _data("alternatives.json")["ways_out"]
    chosen = ["split"] + (["container_image"] if total > LIMITS.unzipped_bytes else [])
    return [{"way": name, **ways[name]} for name in chosen]


def over_budget_report(
    spec: LayerSpec,
    budget: Budget,
    sizes: LayerSizes,
    steps: Sequence[StepReport],
    *,
    compiles: bool,
    unzipped: int | None = None,
) -> OverBudgetReport:
    """The report of a build over ``budget``: ``unzipped`` is its exact size, or None while
    bytecode is not compiled (the tree's bytes plus the bytecode estimate, if it will be)."""
    pending = compiles and sizes.bytecode_bytes is None
    estimate = bytecode_size().estimate(sizes.source_bytes) if pending else 0
    total = unzipped if unzipped is not None else sizes.known + estimate
    options = [
        _bytecode_option(spec, sizes, total, budget, compiles),
        _strip_option(spec, sizes, steps),
        _prune_option(steps),
    ]
    return OverBudgetReport(
        target=spec.target,
        unzipped_bytes=total,
        budget=budget.limit,
        budget_name=budget.name,
        measured=_EXACT if unzipped is not None else (_EARLY if pending else _NO_BYTECODE),
        distributions=_shares(sizes),
        steps=list(steps),
        options=[o for o in options if o is not None],
        alternatives=_alternatives(sizes, total, budget),
        ways_out=_ways_out(total),
        largest_files=[
            {"path": path, "unzipped_bytes": size, "distribution": owner}
            for path, size, owner in sizes.largest
        ],
    )


def _text(report: OverBudgetReport) -> str:
    lines = [f"unzipped size of every distribution ({report.measured}), largest first:"]
    width = max((len(d.name) + len(d.version) for d in report.distributions), default=0) + 1
    lines += [
        f"  {f'{d.name} {d.version}'.ljust(width)} {d.unzipped_bytes:>13,} bytes {d.share:>6.1%}"
        for d in report.distributions
    ]
    lines.append("what each optional step saves or costs:")
    lines += [f"  {o.step}: {o.advice}" for o in report.options]
    if report.alternatives:
        lines.append("leaner alternatives:")
        lines += [
            f"  {', '.join(a['distributions'])} ({_mb(a['unzipped_bytes'])}; without: "
            f"{_mb(a['without'])}{', within the budget' if a['fits_without'] else ''}): "
            f"{a['advice']}"
            for a in report.alternatives
        ]
    lines.append("ways out:")
    lines += [f"  {w['advice']}" for w in report.ways_out]
    if report.report_file:
        lines.append(f"every size and the largest files, kept (not a layer): {report.report_file}")
    return "\n".join(lines)


def _hint(report: OverBudgetReport) -> str:
    largest = report.distributions[0] if report.distributions else None
    parts = []
    if largest is not None:
        parts.append(f"cut the largest first: {largest.name} is {largest.share:.0%}")
    parts += [
        f"for {', '.join(a['distributions'])}, see the leaner alternative above"
        for a in report.alternatives
    ]
    strip = next((o for o in report.options if o.step == "strip" and not o.enabled), None)
    if strip is not None and strip.bytes_saved > 0:
        parts.append(f"stripping would save about {_mb(strip.bytes_saved)}")
    bytecode = next((o for o in report.options if o.step == "bytecode" and o.enabled), None)
    if bytecode is not None:
        parts.append(
            f"--no-bytecode saves {'about ' if bytecode.estimated else ''}"
            f"{_mb(-bytecode.bytes_saved)}"
        )
    parts += [str(w["short"]) for w in report.ways_out]
    if report.report_file:
        parts.append(f"every size is in {report.report_file}")
    return "; ".join(parts) + "; the last good layer was kept"


def over_budget_error(report: OverBudgetReport) -> BudgetExceededError:
    top = ", ".join(f"{d.name} {d.share:.1%}" for d in report.distributions[:3])
    estimated = " (bytecode estimated)" if report.measured == _EARLY else ""  # not compiled yet
    return BudgetExceededError(
        f"the layer would take {report.unzipped_bytes:,} bytes unzipped{estimated}, over "
        f"{report.budget_name} by {report.over_by:,} (found {report.measured}): {top}",
        hint=_hint(report),
        details=_text(report),
        data=report.to_dict(),
    )


# -- keeping the report --------------------------------------------------------------------------


def keep_rejected(output: Path, report: OverBudgetReport) -> OverBudgetReport:
    """Write the report beside ``output`` as the error's JSON ``details`` (atomically: a
    temporary file renamed, removed on any failure or interruption); the report names its
    file only if it was written."""
    path = rejected_report_path(output)
    kept = replace(report, report_file=str(path))
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        temporary = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8") as writer:
            document = {"text": _text(kept), **kept.to_dict()}  # the error's JSON details
            writer.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        temporary.chmod(0o644)
        with deferred():
            temporary.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)  # an earlier build's would mislead
        return replace(kept, report_file=None)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return kept


# -- the checks a build makes ---------------------------------------------------------------------


def _versions(installed: Sequence[ResolvedDistribution]) -> dict[str, str]:
    return {canonicalize_name(d.name): d.version for d in installed}


def _sizes(
    inventory: TreeInventory, installed: Sequence[ResolvedDistribution], bytecode: int | None
) -> LayerSizes:
    return LayerSizes(
        distributions=dict(inventory.sizes),
        versions=_versions(installed),
        source_bytes=inventory.source_bytes,
        shared_library_bytes=inventory.shared_library_bytes,
        largest=inventory.largest_files(),
        bytecode_bytes=bytecode,
    )


def _rejected(
    spec: LayerSpec,
    sizes: LayerSizes,
    steps: Sequence[StepReport],
    *,
    compiles: bool,
    unzipped: int | None = None,
) -> BudgetExceededError:
    """The error of a build over its budget, its report kept beside the output."""
    report = over_budget_report(
        spec, Budget.of(spec), sizes, steps, compiles=compiles, unzipped=unzipped
    )
    return over_budget_error(keep_rejected(spec.output, report))


def _bytecode_bytes(steps: Sequence[StepReport]) -> int | None:
    compiled = next((s for s in steps if s.name == "bytecode" and s.applied), None)
    return -compiled.bytes_saved if compiled is not None else None


def check_tree(
    spec: LayerSpec,
    inventory: TreeInventory,
    installed: Sequence[ResolvedDistribution],
    steps: Sequence[StepReport],
    *,
    compiles: bool,
    final: bool,
) -> None:
    """The tree against the budget. While bytecode compiles (``inventory`` without
    ``__pycache__``), a tree over it without any bytecode cannot fit (the report estimates
    the bytecode); once it is ``final``, before the zip, its bytes are exactly the zip's
    unzipped size (the zip's members are its files)."""
    if inventory.total <= Budget.of(spec).limit:
        return
    sizes = _sizes(inventory, installed, _bytecode_bytes(steps))
    unzipped = inventory.total if final else None
    raise _rejected(spec, sizes, steps, compiles=compiles, unzipped=unzipped)


def check_cached(spec: LayerSpec, cached: BuildResult) -> None:
    """A cached build is within Lambda's budget; a lower --max-unzipped may still reject it."""
    if cached.unzipped_bytes <= Budget.of(spec).limit:
        return
    sizes = LayerSizes(
        distributions={canonicalize_name(p.name): p.unzipped_bytes for p in cached.packages},
        versions=_versions(cached.packages),
        source_bytes=0,
        shared_library_bytes=0,
        largest=[],
        bytecode_bytes=_bytecode_bytes(cached.steps),
    )
    compiles = sizes.bytecode_bytes is not None
    raise _rejected(spec, sizes, cached.steps, compiles=compiles, unzipped=cached.unzipped_bytes)
