"""Mergeable partial statistics: each shard summarises its rows, the reduce step merges them.

Exact where mathematics allows it: counts, sums, minima, maxima and missing counts add up;
means and variances merge by parallel moments (Chan, Golub and LeVeque); correlations merge by
co-moments over the rows where both columns are present (as pandas' pairwise ``corr``).
Quantiles come from a mergeable sketch (``sketch.QuantileSketch``) within its stated relative
accuracy. Everything here is pure: dictionaries in, dictionaries out, JSON-serialisable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from analytics_payload.analysis import HISTOGRAM_EDGES, NUMERIC_COLUMNS, json_safe
from analytics_payload.sketch import RELATIVE_ACCURACY, QuantileSketch

__all__ = ["finalize", "merge_partials", "partial_statistics"]


@dataclass
class Moments:
    """Count, mean, sum of squared deviations, min and max of the non-missing values."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        values = values[~np.isnan(values)]
        if not values.size:
            return cls()
        mean = float(values.mean())
        return cls(
            int(values.size),
            mean,
            float(((values - mean) ** 2).sum()),
            float(values.min()),
            float(values.max()),
        )

    def merge(self, other: Moments) -> Moments:
        if not other.n:
            return Moments(**asdict(self))
        if not self.n:
            return Moments(**asdict(other))
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(
            n,
            self.mean + delta * other.n / n,
            self.m2 + other.m2 + delta * delta * self.n * other.n / n,
            min(v for v in (self.minimum, other.minimum) if v is not None),
            max(v for v in (self.maximum, other.maximum) if v is not None),
        )

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None


@dataclass
class CoMoments:
    """Co-moments of two columns over the rows where both are present."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    c: float = 0.0

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> CoMoments:
        both = ~np.isnan(x) & ~np.isnan(y)
        x, y = x[both], y[both]
        if not x.size:
            return cls()
        mx, my = float(x.mean()), float(y.mean())
        dx, dy = x - mx, y - my
        return cls(
            int(x.size),
            mx,
            my,
            float((dx * dx).sum()),
            float((dy * dy).sum()),
            float((dx * dy).sum()),
        )

    def merge(self, other: CoMoments) -> CoMoments:
        if not other.n:
            return CoMoments(**asdict(self))
        if not self.n:
            return CoMoments(**asdict(other))
        n = self.n + other.n
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        weight = self.n * other.n / n
        return CoMoments(
            n,
            self.mean_x + dx * other.n / n,
            self.mean_y + dy * other.n / n,
            self.m2_x + other.m2_x + dx * dx * weight,
            self.m2_y + other.m2_y + dy * dy * weight,
            self.c + other.c + dx * dy * weight,
        )

    @property
    def correlation(self) -> float | None:
        denominator = math.sqrt(self.m2_x * self.m2_y)
        return self.c / denominator if self.n > 1 and denominator > 0 else None


def _pair(a: str, b: str) -> str:
    return f"{a}|{b}"


def _by_site(frame: pd.DataFrame) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for site, rows in frame.groupby("site", sort=True):
        found[str(site)] = {
            "rows": len(rows),
            "sums": {c: float(rows[c].sum()) for c in NUMERIC_COLUMNS},
            "counts": {c: int(rows[c].count()) for c in NUMERIC_COLUMNS},
            "energy_sketch": QuantileSketch().add_many(rows["energy_kwh"].to_numpy()).to_dict(),
        }
    return found


def _hourly(frame: pd.DataFrame) -> dict[str, list[float]]:
    hours = frame["timestamp"].dt.floor("h") if len(frame) else frame["timestamp"]
    grouped = frame.groupby(hours)["temperature_c"].agg(["sum", "count"])
    return {
        stamp.isoformat(): [float(row["sum"]), int(row["count"])]
        for stamp, row in grouped.iterrows()
    }


def partial_statistics(frame: pd.DataFrame) -> dict[str, Any]:
    """What one shard contributes: everything the merged statistics and figure need."""
    arrays = {c: frame[c].to_numpy(dtype=float) for c in NUMERIC_COLUMNS}
    counts, _ = np.histogram(
        np.clip(arrays["temperature_c"], HISTOGRAM_EDGES[0], HISTOGRAM_EDGES[-1] - 1e-9),
        bins=HISTOGRAM_EDGES,
    )
    return {
        "rows": len(frame),
        "columns": list(frame.columns),
        "time": {
            "start": frame["timestamp"].min().isoformat() if len(frame) else None,
            "end": frame["timestamp"].max().isoformat() if len(frame) else None,
        },
        "missing": {c: int(frame[c].isna().sum()) for c in frame.columns},
        "moments": {c: asdict(Moments.of(arrays[c])) for c in NUMERIC_COLUMNS},
        "comoments": {
            _pair(a, b): asdict(CoMoments.of(arrays[a], arrays[b]))
            for a, b in combinations(NUMERIC_COLUMNS, 2)
        },
        "sketches": {c: QuantileSketch().add_many(arrays[c]).to_dict() for c in NUMERIC_COLUMNS},
        "by_site": _by_site(frame),
        "histogram": counts.tolist(),
        "hourly": _hourly(frame),
    }


def _merge_sites(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    sites: dict[str, Any] = {}
    for part in parts:
        for site, found in part["by_site"].items():
            into = sites.setdefault(
                site,
                {
                    "rows": 0,
                    "sums": dict.fromkeys(NUMERIC_COLUMNS, 0.0),
                    "counts": dict.fromkeys(NUMERIC_COLUMNS, 0),
                    "energy_sketch": QuantileSketch().to_dict(),
                },
            )
            into["rows"] += found["rows"]
            for column in NUMERIC_COLUMNS:
                into["sums"][column] += found["sums"][column]
                into["counts"][column] += found["counts"][column]
            merged = QuantileSketch.from_dict(into["energy_sketch"]).merge(
                QuantileSketch.from_dict(found["energy_sketch"])
            )
            into["energy_sketch"] = merged.to_dict()
    return dict(sorted(sites.items()))


def _merge_hourly(parts: Iterable[dict[str, Any]]) -> dict[str, list[float]]:
    hourly: dict[str, list[float]] = {}
    for part in parts:
        for hour, (total, count) in part["hourly"].items():
            into = hourly.setdefault(hour, [0.0, 0])
            into[0] += total
            into[1] += count
    return dict(sorted(hourly.items()))


def merge_partials(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The partial statistics of all the shards' rows together (order does not matter)."""
    if not parts:
        raise ValueError("nothing to merge")
    moments = {c: Moments() for c in NUMERIC_COLUMNS}
    comoments = {_pair(a, b): CoMoments() for a, b in combinations(NUMERIC_COLUMNS, 2)}
    sketches = {c: QuantileSketch() for c in NUMERIC_COLUMNS}
    for part in parts:
        for c in NUMERIC_COLUMNS:
            moments[c] = moments[c].merge(Moments(**part["moments"][c]))
            sketches[c] = sketches[c].merge(QuantileSketch.from_dict(part["sketches"][c]))
        for key, current in list(comoments.items()):
            comoments[key] = current.merge(CoMoments(**part["comoments"][key]))
    starts = [p["time"]["start"] for p in parts if p["time"]["start"]]
    ends = [p["time"]["end"] for p in parts if p["time"]["end"]]
    columns = parts[0]["columns"]
    return {
        "rows": sum(p["rows"] for p in parts),
        "columns": columns,
        "time": {"start": min(starts, default=None), "end": max(ends, default=None)},
        "missing": {c: sum(p["missing"].get(c, 0) for p in parts) for c in columns},
        "moments": {c: asdict(m) for c, m in moments.items()},
        "comoments": {k: asdict(v) for k, v in comoments.items()},
        "sketches": {c: s.to_dict() for c, s in sketches.items()},
        "by_site": _merge_sites(parts),
        "histogram": np.sum([p["histogram"] for p in parts], axis=0).tolist(),
        "hourly": _merge_hourly(parts),
    }


def _summary(moments: Moments, sketch: QuantileSketch, missing: int) -> dict[str, Any]:
    return {
        "count": moments.n,
        "missing": missing,
        "mean": moments.mean if moments.n else None,
        "std": moments.std,
        "min": moments.minimum,
        "p25": sketch.quantile(0.25),
        "median": sketch.quantile(0.5),
        "p75": sketch.quantile(0.75),
        "max": moments.maximum,
    }


def _correlation(merged: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    table: dict[str, dict[str, float | None]] = {a: {} for a in NUMERIC_COLUMNS}
    for a in NUMERIC_COLUMNS:
        for b in NUMERIC_COLUMNS:
            if a == b:
                table[a][b] = 1.0 if merged["moments"][a]["n"] > 1 else None
                continue
            key = _pair(a, b) if _pair(a, b) in merged["comoments"] else _pair(b, a)
            table[a][b] = CoMoments(**merged["comoments"][key]).correlation
    return table


def finalize(
    merged: dict[str, Any],
    *,
    seed: int,
    generated_at: datetime,
    versions: dict[str, str],
    schema_version: int,
) -> dict[str, Any]:
    """stats.json from merged partials: the single run's schema, with the quantile method."""
    by_site = {}
    for site, found in merged["by_site"].items():
        by_site[site] = {
            "rows": found["rows"],
            "energy_kwh_total": found["sums"]["energy_kwh"],
            **{
                f"{c}_mean": (found["sums"][c] / found["counts"][c] if found["counts"][c] else None)
                for c in NUMERIC_COLUMNS
            },
        }
    stats: dict[str, Any] = json_safe(
        {
            "schema_version": schema_version,
            "seed": seed,
            "generated_at": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "rows": merged["rows"],
            "columns": merged["columns"],
            "column_count": len(merged["columns"]),
            "time_range": merged["time"],
            "summary": {
                c: _summary(
                    Moments(**merged["moments"][c]),
                    QuantileSketch.from_dict(merged["sketches"][c]),
                    merged["missing"][c],
                )
                for c in NUMERIC_COLUMNS
            },
            "by_site": by_site,
            "correlation": _correlation(merged),
            "missing": merged["missing"],
            "quantiles": {
                "method": "ddsketch",
                "relative_accuracy": RELATIVE_ACCURACY,
                "rank": "floor(q * (n - 1))",
            },
            "library_versions": versions,
        }
    )
    return stats
