"""Fan-out modes of the function: a shard summarises its part, the reduce step merges them.

A shard generates its rows of the synthetic table (or reads one input CSV object), computes
mergeable partial statistics and writes ``partial.json`` and its ``data.csv`` under
``<prefix>/<run>/shards/<i>/``. The reduce step reads every shard's ``partial.json``; if any is
missing it fails naming them and writes nothing; otherwise it writes the merged ``stats.json``
and a ``plot.png`` drawn from the merged aggregates under ``<prefix>/<run>/``. Both raise on
failure, so the state machine retries them and a shard that keeps failing fails the run.
Everything is a pure function of the run id, so a rerun writes the same objects.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from analytics_payload import analysis, merge, storage
from analytics_payload.event import ReduceParams, ShardParams

__all__ = ["ReduceFailedError", "ShardFailedError", "run_reduce", "run_shard"]

Log = Callable[..., None]
_COLUMNS = ("timestamp", "site", *analysis.NUMERIC_COLUMNS)


class ShardFailedError(Exception):
    """A shard could not produce its partial statistics (the message names the shard)."""


class ReduceFailedError(Exception):
    """The reduce step refused to merge (missing partials), or could not write."""


def _rows(params: ShardParams, s3: Any) -> pd.DataFrame:
    if params.input_key is None:
        start, stop = analysis.shard_range(params.rows, params.shard, params.shards)
        return analysis.generate_rows(start, stop, params.seed)
    pinned = {"IfMatch": params.input_etag} if params.input_etag else {}
    # a changed object fails the shard (412) instead of mixing two versions into one run
    body = s3.get_object(Bucket=params.input_bucket, Key=params.input_key, **pinned)["Body"].read()
    frame = pd.read_csv(io.BytesIO(body), parse_dates=["timestamp"])
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{params.input_key} lacks the columns {', '.join(missing)}")
    return frame[list(_COLUMNS)]


def _upload(
    s3: Any,
    bucket: str,
    prefix: str,
    artifacts: list[storage.Artifact],
    *,
    log: Log,
    request_id: str,
) -> list[dict[str, Any]]:
    return storage.upload_artifacts(
        s3,
        bucket,
        prefix,
        artifacts,
        lambda record: log("uploaded", request_id=request_id, bucket=bucket, **record),
    )


def run_shard(params: ShardParams, request_id: str, s3: Any, log: Log) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        frame = _rows(params, s3)
        partial = merge.partial_statistics(frame)
        partial["shard"] = params.shard
        with storage.work_folder() as folder:
            written = storage.write_files(folder, frame, {"partial.json": partial})
            uploaded = _upload(
                s3, params.bucket, params.shard_prefix, written, log=log, request_id=request_id
            )
    except Exception as exc:  # the state machine retries, then fails the run naming the shard
        log(
            "shard_failed",
            request_id=request_id,
            run=params.run,
            shard=params.shard,
            error=str(exc),
        )
        raise ShardFailedError(f"shard {params.shard} of run {params.run}: {exc}") from exc
    result = {
        "status": "ok",
        "shard": params.shard,
        "rows": len(frame),
        "seconds": round(time.perf_counter() - started, 3),
        "partial": f"{params.shard_prefix}/partial.json",
        "input": params.input_key,
        "artifacts": uploaded,
    }
    log(
        "shard_done",
        request_id=request_id,
        run=params.run,
        **{k: v for k, v in result.items() if k != "artifacts"},
    )
    return result


def _partials(params: ReduceParams, s3: Any) -> list[dict[str, Any]]:
    found, missing = [], []
    for shard in range(params.shards):
        key = f"{params.run_prefix}/shards/{shard}/partial.json"
        try:
            found.append(json.loads(s3.get_object(Bucket=params.bucket, Key=key)["Body"].read()))
        except Exception:  # absent or unreadable: this shard did not finish
            missing.append(shard)
    if missing:
        raise ReduceFailedError(
            f"run {params.run}: shards {', '.join(map(str, missing))} of {params.shards} have no "
            "partial statistics; nothing was merged"
        )
    return found


def run_reduce(
    params: ReduceParams, request_id: str, s3: Any, log: Log, backend: str
) -> dict[str, Any]:
    started = time.perf_counter()
    partials = _partials(params, s3)
    merged = merge.merge_partials(partials)
    log("merged", request_id=request_id, run=params.run, shards=len(partials), rows=merged["rows"])
    stats = merge.finalize(
        merged,
        seed=params.seed,
        generated_at=datetime.now(timezone.utc),
        versions=analysis.library_versions(),
        schema_version=analysis.SCHEMA_VERSION,
    )
    stats["shards"] = len(partials)
    png = analysis.figure_png(analysis.build_merged_figure(merged, stats, seed=params.seed))
    with storage.work_folder() as folder:
        written = storage.write_files(folder, None, {"stats.json": stats}, png)
        try:
            uploaded = _upload(
                s3, params.bucket, params.run_prefix, written, log=log, request_id=request_id
            )
        except storage.UploadFailedError as failure:
            raise ReduceFailedError(f"run {params.run}: {failure}") from failure
    return {
        "status": "ok",
        "request_id": request_id,
        "bucket": params.bucket,
        "prefix": params.run_prefix,
        "run": params.run,
        "rows": merged["rows"],
        "seed": params.seed,
        "backend": backend,
        "artifacts": uploaded,
        "shards": len(partials),  # a count: the response stays the same size whatever N
        "seconds": round(time.perf_counter() - started, 3),
    }
