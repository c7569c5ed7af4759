"""``invoke-local --shards N``: the fan-out's map and reduce in the sandbox, with no AWS.

The same items, events, retries and proof as the Step Functions run
(``layerforge.aws.distributed_map``): each shard is one invocation in the sandbox (up to
``--max-concurrency`` at once, bounded by this machine's cores), tried ``SHARD_ATTEMPTS``
times; the reduce runs once every shard has answered, and refuses (naming them) when partials
are missing. S3 is the embedded moto server (or ``--endpoint-url``). A signal runs no queued
shard and no further attempt: the running shards' sandboxed processes are killed (their
container removed) at once, and the command ends as interrupted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from layerforge.errors import UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.fanout import (
    SHARD_ATTEMPTS,
    FanOut,
    fanout_outcome,
    missing_partials,
    shard_section,
)
from layerforge.interrupts import WorkerPool, check_cancelled
from layerforge.processes import usable_cores
from layerforge.proof import ProofReport, check_all
from layerforge.sandbox.base import Invocation, Sandbox
from layerforge.sandbox.engines import open_sandbox
from layerforge.sandbox.environment import SandboxSpec
from layerforge.sandbox.local_run import LocalRun, local_session, run_details
from layerforge.scratch import scratch_dir

__all__ = ["invoke_local_fanout", "local_workers"]


def local_workers(fanout: FanOut) -> int:
    """Shards run at once here: --max-concurrency, at most the shards and this machine's cores."""
    return max(1, min(fanout.max_concurrency, fanout.count, usable_cores()))


def _upload_folder(s3: Any, folder: Path, bucket: str, prefix: str) -> None:
    """``--input FOLDER``: its CSV files (sorted, not recursive) under the input prefix."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise UsageError(f"--input {folder}: no .csv files", hint="one CSV file per shard")
    for path in files:
        s3.upload_file(str(path), bucket, f"{prefix}{path.name}")


def _error_of(invocation: Invocation) -> str | None:
    """Why an invocation failed (the runner's errorMessage), or None when it succeeded."""
    if invocation.succeeded and isinstance(invocation.result, dict):
        return None
    result = invocation.result if isinstance(invocation.result, dict) else {}
    return str(result.get("errorMessage") or f"exit {invocation.returncode}")


def _shard(
    box: Sandbox, handler: str, event: dict[str, Any], sink: EventSink, lock: threading.Lock
) -> tuple[Any, list[str], str | None]:
    """One shard, retried like the state machine's Retry: (result or None, logs, last error)."""
    logs: list[str] = []
    error: str | None = None
    for attempt in range(1, SHARD_ATTEMPTS + 1):
        check_cancelled()  # no retry after a signal
        invocation: Invocation = box.invoke(handler, event)
        logs += invocation.logs
        error = _error_of(invocation)
        if error is None:
            with lock:
                sink(Event(EventKind.NOTE, "shard", f"shard {event['shard']} done"))
            return invocation.result, logs, None
        with lock:
            sink(
                Event(
                    EventKind.NOTE,
                    "shard",
                    f"shard {event['shard']} failed (attempt {attempt}/{SHARD_ATTEMPTS}): {error}",
                )
            )
    return None, logs, error


def invoke_local_fanout(
    run: LocalRun, fanout: FanOut, spec: SandboxSpec, *, sink: EventSink
) -> ProofReport:
    """Map the shards over the sandbox in parallel, reduce, and prove the merged result."""
    with local_session(run, spec) as session, scratch_dir("layerforge-task-") as scratch:
        if fanout.input_bucket and run.input_dir is not None:
            _upload_folder(session.s3, run.input_dir, fanout.input_bucket, fanout.input_prefix)
        if fanout.input_bucket:
            fanout = fanout.listed(session.s3)
            run = replace(run, fanout=fanout)  # {shards} counts the objects
            skipped = fanout.skipped_note()
            if skipped:
                sink(Event(EventKind.NOTE, "fanout", skipped))
        workers = local_workers(fanout)
        # the shards share one sandbox (each invocation is its own process with its own /tmp
        # under bwrap); a shared container gets each shard's memory and /tmp once per worker
        shared = replace(
            session.spec,
            memory_mb=session.spec.memory_mb * workers,
            ephemeral_mb=session.spec.ephemeral_mb * workers,
        )
        code = run.function.stage(scratch / "task")
        common = fanout.common(bucket=run.bucket, prefix=run.prefix)
        handler = run.function.handler
        started = time.monotonic()
        with open_sandbox(run.layer, shared, code=code, engine=run.engine, sink=sink) as box:
            engine_used = box.engine
            sink(Event(EventKind.NOTE, "fanout", f"{fanout.label}, {workers} at once"))
            lock = threading.Lock()
            with WorkerPool(workers, thread_name_prefix="layerforge-shard") as pool:
                futures = [
                    pool.submit(_shard, box, handler, fanout.shard_event(item, common), sink, lock)
                    for item in fanout.items()
                ]
                answers = [future.result() for future in futures]
            map_seconds = time.monotonic() - started
            results = [result for result, _, _ in answers]
            logs = [line for _, lines, _ in answers for line in lines]
            errors = {i: error for i, (_, _, error) in enumerate(answers) if error}
            sink(Event(EventKind.NOTE, "fanout", "reduce: merging the partial statistics"))
            reduce = box.invoke(handler, fanout.reduce_event(common))
            logs += reduce.logs
        missing = missing_partials(session.s3, run.bucket, run.prefix, fanout)
        reduce_error = _error_of(reduce)
        why = next(iter(errors.values()), None) or reduce_error or "failed"
        outcome, failures = fanout_outcome(
            fanout,
            succeeded=reduce_error is None and not errors,
            output=reduce.result,
            why=why,
            missing=missing,
            log_lines=logs,
        )
        report = check_all(outcome, session.s3, run.proof, run.templates(spec))
        report.details = run_details(run, session, engine_used)
    report.details["fanout"] = {
        "run": fanout.run_id,
        "what": fanout.label,
        "workers": workers,
        "map_seconds": round(map_seconds, 3),
        "seconds": round(time.monotonic() - started, 3),
        **({"skipped": list(fanout.skipped)} if fanout.skipped else {}),
    }
    report.details["shards"] = shard_section(fanout, results, {**failures, **errors})
    return report
