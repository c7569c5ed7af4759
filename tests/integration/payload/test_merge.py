"""Merged partial statistics of N shards equal the single-invocation statistics of the same data
(to floating-point tolerance); quantiles are within the sketch's stated bound."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics_payload.analysis import (
    NUMERIC_COLUMNS,
    generate,
    generate_rows,
    shard_range,
    summarise,
)
from analytics_payload.merge import finalize, merge_partials, partial_statistics
from analytics_payload.sketch import RELATIVE_ACCURACY, QuantileSketch

ROWS, SEED = 37_123, 11
NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return generate(ROWS, SEED)


def _merged(shards: int) -> dict[str, Any]:
    parts = [
        partial_statistics(generate_rows(*shard_range(ROWS, i, shards), SEED))
        for i in range(shards)
    ]
    random.Random(shards).shuffle(parts)  # the order of the shards does not matter
    parts = json.loads(json.dumps(parts))  # as the reduce step reads them: through JSON
    return finalize(
        merge_partials(parts), seed=SEED, generated_at=NOW, versions={}, schema_version=1
    )


def _close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=2e-6)
    )


@pytest.mark.parametrize("shards", [1, 4, 7])
def test_merged_statistics_equal_the_single_run(full: pd.DataFrame, shards: int) -> None:
    single = summarise(full, seed=SEED, generated_at=NOW)
    merged = _merged(shards)
    assert merged["rows"] == single["rows"] == ROWS
    assert merged["missing"] == single["missing"]
    assert merged["time_range"] == single["time_range"]
    for column in NUMERIC_COLUMNS:
        ours, theirs = merged["summary"][column], single["summary"][column]
        for key in ("count", "missing"):
            assert ours[key] == theirs[key], (column, key)
        for key in ("mean", "std", "min", "max"):
            assert _close(ours[key], theirs[key]), (column, key, ours[key], theirs[key])
    for a in NUMERIC_COLUMNS:
        for b in NUMERIC_COLUMNS:
            assert _close(merged["correlation"][a][b], single["correlation"][a][b]), (a, b)
    assert merged["by_site"].keys() == single["by_site"].keys()
    for site, values in single["by_site"].items():
        for key, value in values.items():
            assert _close(merged["by_site"][site][key], value), (site, key)


@pytest.mark.parametrize("shards", [1, 5])
def test_merged_quantiles_are_within_the_stated_bound(full: pd.DataFrame, shards: int) -> None:
    merged = _merged(shards)
    for column in NUMERIC_COLUMNS:
        values = np.sort(full[column].dropna().to_numpy())
        for q, key in ((0.25, "p25"), (0.5, "median"), (0.75, "p75")):
            exact = values[math.floor(q * (len(values) - 1))]
            found = merged["summary"][column][key]
            assert abs(found - exact) <= RELATIVE_ACCURACY * abs(exact) + 1e-12, (column, key)
    assert merged["quantiles"]["relative_accuracy"] == RELATIVE_ACCURACY


def test_the_sketch_merges_exactly_and_handles_signs_and_zero() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 5, 5000), np.zeros(100), [np.nan] * 10])
    whole = QuantileSketch().add_many(values)
    halves = (
        QuantileSketch().add_many(values[:2500]).merge(QuantileSketch().add_many(values[2500:]))
    )
    assert whole.to_dict() == halves.to_dict()
    ordered = np.sort(values[~np.isnan(values)])
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        exact = ordered[math.floor(q * (len(ordered) - 1))]
        assert abs(whole.quantile(q) - exact) <= RELATIVE_ACCURACY * abs(exact) + 1e-12
    assert QuantileSketch().quantile(0.5) is None
