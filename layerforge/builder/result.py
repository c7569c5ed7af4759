"""What a build produced: plain, serialisable records (the manifest is one of them, as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = [
    "BuildResult",
    "DistributionShare",
    "DriftEntry",
    "OptionCost",
    "OverBudgetReport",
    "ResolvedDistribution",
    "StepReport",
]


@dataclass(frozen=True)
class ResolvedDistribution:
    """One installed distribution and the wheel it came from."""

    name: str
    version: str
    wheel: str
    sha256: str | None
    requested: bool
    unzipped_bytes: int = 0

    def with_size(self, unzipped_bytes: int) -> ResolvedDistribution:
        return replace(self, unzipped_bytes=unzipped_bytes)


@dataclass(frozen=True)
class StepReport:
    """One post-processing step; ``bytes_saved`` is negative when the step costs bytes."""

    name: str
    bytes_saved: int
    files_changed: int
    detail: str = ""
    applied: bool = True
    seconds: float = 0.0

    def timed(self, seconds: float) -> StepReport:
        return replace(self, seconds=round(seconds, 3))


@dataclass(frozen=True)
class DriftEntry:
    """A distribution whose newest release the target platform cannot take."""

    name: str
    installed: str
    latest: str
    latest_compatible: str | None

    @property
    def message(self) -> str:
        newest = self.latest_compatible or "none"
        return (
            f"{self.name}: installed {self.installed}; newest release {self.latest} has no "
            f"wheel for this runtime/architecture (newest compatible: {newest})"
        )


@dataclass(frozen=True)
class BuildResult:
    """The outcome of ``build_layer``; ``to_dict`` is the manifest and the ``--json`` document."""

    output: str
    manifest: str
    sha256: str
    unzipped_bytes: int
    zipped_bytes: int
    file_count: int
    runtime: str
    glibc: str
    architecture: str
    backend: str
    layerforge_version: str
    requirements: list[str]
    packages: list[ResolvedDistribution]
    steps: list[StepReport]
    drift: list[DriftEntry]
    unzipped_budget: int
    direct_upload_limit: int
    warnings: list[str] = field(default_factory=list)
    installer: str = "pip"  # what installed the wheels: pip, or uv (cross, AL2023 runtimes)
    notes: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    duration_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def budget_fraction(self) -> float:
        return self.unzipped_bytes / self.unzipped_budget

    @property
    def fits_direct_upload(self) -> bool:
        return self.zipped_bytes <= self.direct_upload_limit

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["budget_fraction"] = round(self.budget_fraction, 4)
        data["fits_direct_upload"] = self.fits_direct_upload
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildResult:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["packages"] = [ResolvedDistribution(**p) for p in data["packages"]]
        values["steps"] = [StepReport(**s) for s in data["steps"]]
        values["drift"] = [DriftEntry(**d) for d in data["drift"]]
        return cls(**values)

    def relocated(self, output: str, manifest: str, *, cached: bool) -> BuildResult:
        return replace(self, output=output, manifest=manifest, cached=cached)

    def finished(
        self, seconds: float, timings: dict[str, float], warnings: list[str]
    ) -> BuildResult:
        """With the wall time of the whole build and of each step, and late warnings."""
        added = [w for w in warnings if w not in self.warnings]
        return replace(
            self,
            duration_seconds=round(seconds, 3),
            timings=dict(timings),
            warnings=[*self.warnings, *added],
        )


@dataclass(frozen=True)
class DistributionShare:
    """One distribution's unzipped bytes and its share of the layer."""

    name: str
    version: str
    unzipped_bytes: int
    share: float


@dataclass(frozen=True)
class OptionCost:
    """What an optional step saves (``bytes_saved``; negative: it costs) or would save if it
    were turned on or off, what else it changes, and where each figure comes from."""

    step: str
    enabled: bool
    bytes_saved: int
    estimated: bool
    advice: str
    cold_import_seconds: float | None = None  # what it saves at each cold start
    source: str = ""


@dataclass(frozen=True)
class OverBudgetReport:
    """A build over its unzipped budget: the sizes (the same numbers a manifest records), the
    steps that ran, what each option would change, and the ways out."""

    target: str
    unzipped_bytes: int
    budget: int
    budget_name: str
    measured: str
    distributions: list[DistributionShare]
    steps: list[StepReport]
    options: list[OptionCost]
    alternatives: list[dict[str, Any]]
    ways_out: list[dict[str, Any]]
    largest_files: list[dict[str, Any]]
    report_file: str | None = None

    @property
    def over_by(self) -> int:
        return self.unzipped_bytes - self.budget

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["over_by"] = self.over_by
        return data
