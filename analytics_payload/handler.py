"""``lambda_handler``: validate the event, analyse, write to /tmp, upload to S3, respond.

Event (all optional): ``rows`` (1 .. 5,000,000; default 10,000), ``seed`` (0 .. 2**32-1;
default random, reported), ``bucket`` (else ``ARTIFACT_BUCKET``), ``prefix`` (else
``ARTIFACT_PREFIX``, else ``automated-analysis``). Artifacts go to
``<prefix>/<UTC timestamp>-<short request id>/``. Every milestone is one JSON log line.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from analytics_payload.headless import configure_headless

_HEADLESS = configure_headless()  # before anything imports matplotlib.pyplot

from analytics_payload import analysis, shards, storage  # noqa: E402
from analytics_payload.event import (  # noqa: E402
    InvalidEventError,
    Params,
    parse_event,
    parse_reduce_event,
    parse_shard_event,
)

__all__ = ["InvalidEventError", "Params", "lambda_handler", "parse_event"]


def log(event: str, **fields: Any) -> None:
    """One structured log line (CloudWatch keeps stdout)."""
    print(json.dumps({"event": event, **fields}, default=str), file=sys.stdout, flush=True)


_CLIENT: Any = None


def s3_client() -> Any:
    """One S3 client per container (reused while warm). Honours AWS_ENDPOINT_URL."""
    global _CLIENT  # noqa: PLW0603 - the one cached client per warm container
    if _CLIENT is None:
        import boto3  # loaded on the first upload: validation failures answer without it

        _CLIENT = boto3.client("s3")
    return _CLIENT


def _error(request_id: str, kind: str, message: str, **extra: Any) -> dict[str, Any]:
    log("failed", request_id=request_id, error=kind, message=message, **extra)
    return {
        "status": "error",
        "request_id": request_id,
        "error": {"type": kind, "message": message, **extra},
    }


def _run(params: Params, request_id: str, started: float) -> dict[str, Any]:
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round((now - since) * 1000, 1)
        return now

    now = datetime.now(timezone.utc)
    run_prefix = f"{params.prefix}/{now:%Y%m%dT%H%M%SZ}-{request_id.replace('-', '')[:8]}"
    with storage.work_folder() as folder:
        mark = time.perf_counter()
        frame = analysis.generate(params.rows, params.seed)
        mark = lap("generate_ms", mark)
        stats = analysis.summarise(frame, seed=params.seed, generated_at=now)
        mark = lap("statistics_ms", mark)
        png = analysis.render_figure(frame, seed=params.seed)
        mark = lap("plot_ms", mark)
        artifacts = storage.write_artifacts(folder, frame, stats, png)
        for artifact in artifacts:
            log(
                "artifact_written",
                request_id=request_id,
                **artifact.describe(),
                path=str(artifact.path),
            )
        mark = lap("write_ms", mark)
        try:
            uploaded = storage.upload_artifacts(
                s3_client(),
                params.bucket,
                run_prefix,
                artifacts,
                lambda record: log(
                    "uploaded", request_id=request_id, bucket=params.bucket, **record
                ),
            )
        except storage.UploadFailedError as failure:
            return _error(
                request_id,
                "UploadFailed",
                str(failure),
                artifact=failure.artifact,
                uploaded=failure.uploaded,
                bucket=params.bucket,
            )
        lap("upload_ms", mark)
    timings["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
    response = {
        "status": "ok",
        "request_id": request_id,
        "bucket": params.bucket,
        "prefix": run_prefix,
        "rows": params.rows,
        "seed": params.seed,
        "backend": _HEADLESS["backend"],
        "artifacts": uploaded,
        "timings_ms": timings,
        "library_versions": stats["library_versions"],
    }
    log(
        "summary",
        **{k: v for k, v in response.items() if k != "artifacts"},
        artifacts=[a["key"] for a in uploaded],
    )
    return response


def _fan_out(mode: str, event: Any, request_id: str) -> dict[str, Any]:
    """shard and reduce: invalid events and failures raise, so the state machine retries."""
    if mode == "shard":
        shard = parse_shard_event(event, os.environ)
        log("accepted", request_id=request_id, mode=mode, run=shard.run, shard=shard.shard)
        log("headless", request_id=request_id, run=shard.run, **_HEADLESS)
        return shards.run_shard(shard, request_id, s3_client(), log)
    reduce = parse_reduce_event(event, os.environ)
    log("accepted", request_id=request_id, mode=mode, run=reduce.run, shards=reduce.shards)
    log("headless", request_id=request_id, run=reduce.run, **_HEADLESS)
    return shards.run_reduce(reduce, request_id, s3_client(), log, str(_HEADLESS["backend"]))


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point. A single run always answers a JSON object with ``status`` ok or
    error; the fan-out modes (``"mode": "shard"`` / ``"reduce"``) raise on failure instead."""
    started = time.perf_counter()
    request_id = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    mode = event.get("mode", "single") if isinstance(event, dict) else "single"
    if mode in ("shard", "reduce"):
        return _fan_out(mode, event, request_id)
    if mode != "single":
        return _error(
            request_id, "InvalidEvent", f"mode must be single, shard or reduce, not {mode!r}"
        )
    try:
        params = parse_event(event, os.environ)
    except InvalidEventError as invalid:
        return _error(request_id, "InvalidEvent", str(invalid))
    log(
        "accepted",
        request_id=request_id,
        rows=params.rows,
        seed=params.seed,
        bucket=params.bucket,
        prefix=params.prefix,
    )
    log("headless", request_id=request_id, **_HEADLESS)
    return _run(params, request_id, started)
