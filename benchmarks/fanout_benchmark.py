"""Rows per second: one invocation against N shards, side by side in one run, and the merge's cost.

The single side is what one analytics_payload invocation computes (generate, statistics,
figure). The fan-out side is what ``--shards N`` computes: N shards in parallel worker
processes (one per core here, as Lambda gives each shard its own), each generating its rows and
its mergeable partial statistics, then the reduce: merge, finalize, and draw the figure from
the merged aggregates. S3 and the sandbox are left out, so the numbers are the computation's.
On this machine the shards are bounded by its cores; on Lambda every shard has its own.

    python -m benchmarks.fanout_benchmark [--rows 1000000] [--shards 1 2 4 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from typing import Any

from analytics_payload import analysis, merge

SEED = 1
NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def single(rows: int) -> dict[str, float]:
    started = time.perf_counter()
    frame = analysis.generate(rows, SEED)
    analysis.summarise(frame, seed=SEED, generated_at=NOW)
    analysis.render_figure(frame, seed=SEED)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows_per_s": rows / seconds}


def _shard(rows: int, shard: int, shards: int) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    partial = merge.partial_statistics(
        analysis.generate_rows(*analysis.shard_range(rows, shard, shards), SEED)
    )
    partial["shard"] = shard
    return json.loads(json.dumps(partial)), time.perf_counter() - started


def fanned(rows: int, shards: int, workers: int) -> dict[str, float]:
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        answers = list(pool.map(_shard, [rows] * shards, range(shards), [shards] * shards))
    mapped = time.perf_counter()
    merged = merge.merge_partials([partial for partial, _ in answers])
    stats = merge.finalize(
        merged, seed=SEED, generated_at=NOW, versions={}, schema_version=analysis.SCHEMA_VERSION
    )
    analysis.figure_png(analysis.build_merged_figure(merged, stats, seed=SEED))
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "rows_per_s": rows / (done - started),
        "map_s": mapped - started,
        "slowest_shard_s": max(seconds for _, seconds in answers),
        "merge_s": done - mapped,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    one = single(args.rows)
    rows = [{"shape": "1 invocation", **one}]
    for shards in args.shards:
        result = fanned(args.rows, shards, min(shards, cores))
        rows.append(
            {"shape": f"{shards} shards", **result, "speedup": one["seconds"] / result["seconds"]}
        )
    if args.json:
        print(json.dumps({"rows": args.rows, "cores": cores, "results": rows}, indent=2))
        return 0
    print(f"{args.rows:,} rows on {cores} cores")
    print(f"{'shape':<14}{'seconds':>9}{'rows/s':>12}{'map s':>8}{'merge s':>9}{'speedup':>9}")
    for row in rows:
        print(
            f"{row['shape']:<14}{row['seconds']:>9.2f}{row['rows_per_s']:>12,.0f}"
            f"{row.get('map_s', float('nan')):>8.2f}{row.get('merge_s', float('nan')):>9.2f}"
            f"{row.get('speedup', 1.0):>9.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
