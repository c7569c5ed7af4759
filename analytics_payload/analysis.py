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

__all__ = [
    "NUMERIC_COLUMNS",
    "SCHEMA_VERSION",
    "SITES",
    "annotate_heatmap",
    "build_figure",
    "generate",
    "library_versions",
    "render_figure",
    "summarise",
]

SCHEMA_VERSION = 1
SITES = ("north", "south", "east", "west", "central")
_SITE_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
_SITE_OFFSET_C = np.array([-4.0, 5.0, 1.0, 0.5, 2.0])
NUMERIC_COLUMNS = ("temperature_c", "humidity_pct", "energy_kwh", "wait_s")
#: Points drawn per panel at most: plotting time does not grow with ``rows``.
PLOT_SAMPLE = 20_000
FIGURE_SIZE_IN = (12.0, 9.0)
FIGURE_DPI = 100


def generate(rows: int, seed: int) -> pd.DataFrame:
    """A realistic sensor table: one reading a minute, five sites, correlated measures.

    Temperature follows a daily cycle, slower weather swings and a site offset; humidity
    falls as temperature rises; energy use grows with temperature; waits are exponential;
    ~1% of humidity and energy readings are missing. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    minutes = np.arange(rows)
    site_index = rng.choice(len(SITES), size=rows, p=_SITE_WEIGHTS)
    daily = np.sin(2 * np.pi * (minutes % 1440) / 1440 - np.pi / 2)
    weather = 3 * np.sin(2 * np.pi * minutes / (1440 * 9.0)) + 2 * np.sin(minutes / 20_000.0)
    temperature = 15 + 6 * daily + weather + _SITE_OFFSET_C[site_index] + rng.normal(0, 2.5, rows)
    humidity = np.clip(85 - 1.2 * temperature + rng.normal(0, 6, rows), 5, 100)
    energy = np.exp(0.8 + 0.04 * temperature + rng.normal(0, 0.35, rows))
    wait = rng.exponential(30.0, rows)
    humidity[rng.random(rows) < 0.01] = np.nan
    energy[rng.random(rows) < 0.01] = np.nan
    return pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "site": np.asarray(SITES, dtype=object)[site_index],
            "temperature_c": temperature.round(3),
            "humidity_pct": humidity.round(2),
            "energy_kwh": energy.round(4),
            "wait_s": wait.round(2),
        }
    )


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
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
    stats: dict[str, Any] = _clean(
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
    import matplotlib.pyplot as plt

    figure = build_figure(frame, seed=seed)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
