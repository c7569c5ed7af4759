"""Synthetic data, statistics and figures: pure functions, no files, no network.

Works with the seed's pins (numpy 1.26, pandas 1.5, matplotlib 3.8, seaborn 0.12) and with
current releases (numpy 2.x, pandas 2.x/3.x, seaborn 0.13). Matplotlib must already be on a
non-GUI backend when ``render_figure`` runs (``analytics_payload.headless`` does that).
"""

from __future__ import annotations

import io
import math
import platform
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analytics_payload.sketch import QuantileSketch

__all__ = [
    "HISTOGRAM_EDGES",
    "NUMERIC_COLUMNS",
    "SCHEMA_VERSION",
    "SITES",
    "annotate_heatmap",
    "build_figure",
    "build_merged_figure",
    "figure_png",
    "generate",
    "generate_rows",
    "json_safe",
    "library_versions",
    "render_figure",
    "shard_range",
    "summarise",
]

SCHEMA_VERSION = 1
SITES = ("north", "south", "east", "west", "central")
_SITE_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
_SITE_OFFSET_C = np.array([-4.0, 5.0, 1.0, 0.5, 2.0])
NUMERIC_COLUMNS = ("temperature_c", "humidity_pct", "energy_kwh", "wait_s")
#: Fixed temperature bins (°C), so histograms of shards add up bin by bin.
HISTOGRAM_EDGES = np.arange(-40.0, 61.0, 1.0)
#: Points drawn per panel at most: plotting time does not grow with ``rows``.
PLOT_SAMPLE = 20_000
FIGURE_SIZE_IN = (12.0, 9.0)
FIGURE_DPI = 100


#: Rows per generation block: each block has its own random stream, so any range of rows (a
#: shard) is generated exactly as it is within the whole table.
BLOCK_ROWS = 10_000


def _block(index: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, index])
    minutes = np.arange(index * BLOCK_ROWS, (index + 1) * BLOCK_ROWS)
    size = BLOCK_ROWS
    site_index = rng.choice(len(SITES), size=size, p=_SITE_WEIGHTS)
    daily = np.sin(2 * np.pi * (minutes % 1440) / 1440 - np.pi / 2)
    weather = 3 * np.sin(2 * np.pi * minutes / (1440 * 9.0)) + 2 * np.sin(minutes / 20_000.0)
    temperature = 15 + 6 * daily + weather + _SITE_OFFSET_C[site_index] + rng.normal(0, 2.5, size)
    humidity = np.clip(85 - 1.2 * temperature + rng.normal(0, 6, size), 5, 100)
    energy = np.exp(0.8 + 0.04 * temperature + rng.normal(0, 0.35, size))
    wait = rng.exponential(30.0, size)
    humidity[rng.random(size) < 0.01] = np.nan
    energy[rng.random(size) < 0.01] = np.nan
    return {
        "minute": minutes,
        "site": site_index,
        "temperature": temperature,
        "humidity": humidity,
        "energy": energy,
        "wait": wait,
    }


def generate_rows(start: int, stop: int, seed: int) -> pd.DataFrame:
    """Rows ``start`` .. ``stop - 1`` of the table ``generate(rows, seed)`` makes for any
    ``rows >= stop``: a shard's part of the whole, exactly."""
    blocks = [_block(b, seed) for b in range(start // BLOCK_ROWS, -(-stop // BLOCK_ROWS))]
    first = (start // BLOCK_ROWS) * BLOCK_ROWS
    take = slice(start - first, stop - first)
    columns = {
        name: np.concatenate([b[name] for b in blocks])[take] if blocks else np.array([])
        for name in ("minute", "site", "temperature", "humidity", "energy", "wait")
    }
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(columns["minute"].astype(np.int64), unit="min"),
            "site": np.asarray(SITES, dtype=object)[columns["site"].astype(np.int64)],
            "temperature_c": columns["temperature"].round(3),
            "humidity_pct": columns["humidity"].round(2),
            "energy_kwh": columns["energy"].round(4),
            "wait_s": columns["wait"].round(2),
        }
    )


def generate(rows: int, seed: int) -> pd.DataFrame:
    """A realistic sensor table: one reading a minute, five sites, correlated measures.

    Temperature follows a daily cycle, slower weather swings and a site offset; humidity
    falls as temperature rises; energy use grows with temperature; waits are exponential;
    ~1% of humidity and energy readings are missing. Deterministic for a given ``seed``, and
    generated in blocks so that ``generate_rows`` reproduces any part of it.
    """
    return generate_rows(0, rows, seed)


def shard_range(rows: int, shard: int, shards: int) -> tuple[int, int]:
    """The rows shard ``shard`` of ``shards`` covers (contiguous, every row exactly once)."""
    return shard * rows // shards, (shard + 1) * rows // shards


def json_safe(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else round(number, 6)
    return value


def _column_summary(series: pd.Series) -> dict[str, Any]:
    quantiles = series.quantile([0.25, 0.5, 0.75])
    return {
        "count": int(series.count()),
        "missing": int(series.isna().sum()),
        "mean": series.mean(),
        "std": series.std(),
        "min": series.min(),
        "p25": quantiles.loc[0.25],
        "median": quantiles.loc[0.5],
        "p75": quantiles.loc[0.75],
        "max": series.max(),
    }


def _group_aggregates(frame: pd.DataFrame) -> dict[str, Any]:
    grouped = frame.groupby("site", sort=True)
    means = grouped[list(NUMERIC_COLUMNS)].mean()
    counts = grouped.size()
    energy_total = grouped["energy_kwh"].sum()
    return {
        site: {
            "rows": int(counts.loc[site]),
            "energy_kwh_total": energy_total.loc[site],
            **{f"{column}_mean": means.loc[site, column] for column in NUMERIC_COLUMNS},
        }
        for site in counts.index
    }


def library_versions() -> dict[str, str]:
    # matplotlib and seaborn load where a figure is drawn: the statistics never need them, and
    # pyplot must not load before the caller chose a headless backend (``headless``)
    import matplotlib
    import seaborn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "matplotlib": matplotlib.__version__,
        "seaborn": seaborn.__version__,
    }


def summarise(frame: pd.DataFrame, *, seed: int, generated_at: datetime) -> dict[str, Any]:
    """stats.json: stable keys, ``schema_version``, no NaN (null instead)."""
    numeric = frame[list(NUMERIC_COLUMNS)]
    stats: dict[str, Any] = json_safe(
        {
            "schema_version": SCHEMA_VERSION,
            "seed": seed,
            "generated_at": generated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "rows": len(frame),
            "columns": list(frame.columns),
            "column_count": len(frame.columns),
            "time_range": {
                "start": frame["timestamp"].iloc[0].isoformat() if len(frame) else None,
                "end": frame["timestamp"].iloc[-1].isoformat() if len(frame) else None,
            },
            "summary": {column: _column_summary(numeric[column]) for column in NUMERIC_COLUMNS},
            "by_site": _group_aggregates(frame),
            "correlation": numeric.corr().to_dict(),
            "missing": {column: int(frame[column].isna().sum()) for column in frame.columns},
            "library_versions": library_versions(),
        }
    )
    return stats


def _hourly_alias() -> str:
    """pandas 2.2 renamed the hourly alias "H" to "h"; pandas 1.5 knows only "H"."""
    major, minor = (int(part) for part in pd.__version__.split(".")[:2])
    return "h" if (major, minor) >= (2, 2) else "H"


def _daily_series(frame: pd.DataFrame) -> pd.DataFrame:
    hourly = frame.set_index("timestamp")["temperature_c"].resample(_hourly_alias()).mean()
    window = 24 if len(hourly) >= 48 else max(1, len(hourly) // 4)
    return pd.DataFrame(
        {"hourly": hourly, "rolling": hourly.rolling(window, min_periods=1).mean()}
    ).reset_index()


def annotate_heatmap(axes: Any, matrix: pd.DataFrame, fmt: str = "{:.2f}") -> None:
    """Write every cell's value on a heatmap drawn by seaborn (``annot=False``).

    seaborn 0.12 with matplotlib >= 3.8 annotates only the first row; drawing the text here
    gives every cell its number on any version, the colour chosen for contrast.
    """
    values = matrix.to_numpy(dtype=float)
    for row in range(values.shape[0]):
        for column in range(values.shape[1]):
            value = values[row, column]
            if math.isnan(value):
                continue
            axes.text(
                column + 0.5,
                row + 0.5,
                fmt.format(value),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if abs(value) > 0.6 else "black",
            )


def build_figure(frame: pd.DataFrame, *, seed: int) -> Any:
    """The four-panel figure, drawn from aggregates or a bounded sample, never per row."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sample = frame.sample(n=min(len(frame), PLOT_SAMPLE), random_state=seed)
    figure, axes = plt.subplots(2, 2, figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    counts, edges = np.histogram(frame["temperature_c"].to_numpy(), bins=50)
    axes[0, 0].bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0")
    axes[0, 0].set(title="Temperature distribution", xlabel="temperature (°C)", ylabel="readings")
    sns.boxplot(data=sample, x="site", y="energy_kwh", order=list(SITES), ax=axes[0, 1])
    axes[0, 1].set(title="Energy use by site (sample)", xlabel="site", ylabel="energy (kWh)")
    daily = _daily_series(frame)
    axes[1, 0].plot(daily["timestamp"], daily["hourly"], lw=0.6, alpha=0.5, label="hourly")
    axes[1, 0].plot(daily["timestamp"], daily["rolling"], lw=1.8, label="rolling mean")
    axes[1, 0].set(title="Temperature over time", xlabel="time", ylabel="temperature (°C)")
    axes[1, 0].legend(loc="upper right")
    axes[1, 0].tick_params(axis="x", labelrotation=30)
    correlation = frame[list(NUMERIC_COLUMNS)].corr()
    sns.heatmap(correlation, annot=False, cmap="vlag", vmin=-1, vmax=1, square=True, ax=axes[1, 1])
    annotate_heatmap(axes[1, 1], correlation)
    axes[1, 1].set(title="Correlation")
    figure.suptitle(f"Synthetic sensor analysis: {len(frame):,} rows, seed {seed}")
    figure.tight_layout()
    return figure


def render_figure(frame: pd.DataFrame, *, seed: int) -> bytes:
    """``build_figure`` as PNG bytes (Agg)."""
    return figure_png(build_figure(frame, seed=seed))


def _site_box(sketch: Any, site: str) -> dict[str, Any]:
    return {
        "label": site,
        "whislo": sketch.quantile(0.05),
        "q1": sketch.quantile(0.25),
        "med": sketch.quantile(0.5),
        "q3": sketch.quantile(0.75),
        "whishi": sketch.quantile(0.95),
        "fliers": [],
    }


def build_merged_figure(merged: dict[str, Any], stats: dict[str, Any], *, seed: int) -> Any:
    """The same four panels, drawn from merged aggregates only (never from rows): the merged
    histogram, per-site energy quartiles from the sketches, hourly means, the correlations."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    figure, axes = plt.subplots(2, 2, figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    edges = HISTOGRAM_EDGES
    axes[0, 0].bar(
        edges[:-1], merged["histogram"], width=np.diff(edges), align="edge", color="#4c72b0"
    )
    axes[0, 0].set(title="Temperature distribution", xlabel="temperature (°C)", ylabel="readings")
    boxes = [
        _site_box(QuantileSketch.from_dict(found["energy_sketch"]), site)
        for site, found in merged["by_site"].items()
        if found["counts"]["energy_kwh"]
    ]
    if boxes:
        axes[0, 1].bxp(boxes, showfliers=False)
    axes[0, 1].set(
        title="Energy use by site (sketch quartiles)", xlabel="site", ylabel="energy (kWh)"
    )
    hours = pd.to_datetime(list(merged["hourly"]))
    means = pd.Series([s / c if c else np.nan for s, c in merged["hourly"].values()], index=hours)
    window = 24 if len(means) >= 48 else max(1, len(means) // 4)
    axes[1, 0].plot(means.index, means.to_numpy(), lw=0.6, alpha=0.5, label="hourly")
    axes[1, 0].plot(
        means.index,
        means.rolling(window, min_periods=1).mean().to_numpy(),
        lw=1.8,
        label="rolling mean",
    )
    axes[1, 0].set(title="Temperature over time", xlabel="time", ylabel="temperature (°C)")
    axes[1, 0].legend(loc="upper right")
    axes[1, 0].tick_params(axis="x", labelrotation=30)
    correlation = pd.DataFrame(stats["correlation"]).loc[
        list(NUMERIC_COLUMNS), list(NUMERIC_COLUMNS)
    ]
    correlation = correlation.astype(float)
    sns.heatmap(correlation, annot=False, cmap="vlag", vmin=-1, vmax=1, square=True, ax=axes[1, 1])
    annotate_heatmap(axes[1, 1], correlation)
    axes[1, 1].set(title="Correlation")
    figure.suptitle(f"Synthetic sensor analysis: {merged['rows']:,} rows in shards, seed {seed}")
    figure.tight_layout()
    return figure


def figure_png(figure: Any) -> bytes:
    """A figure as PNG bytes (Agg); the figure is closed."""
    import matplotlib.pyplot as plt

    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
