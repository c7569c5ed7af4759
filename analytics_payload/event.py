"""The function's event, validated: standard library only, so layerforge's pre-flight checks the
event it is about to send with exactly the rules the function applies."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_PREFIX",
    "InvalidEventError",
    "Params",
    "ReduceParams",
    "ShardParams",
    "parse_event",
    "parse_reduce_event",
    "parse_shard_event",
]

MAX_ROWS = 5_000_000
DEFAULT_ROWS = 10_000
DEFAULT_PREFIX = "automated-analysis"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=-]+$")


class InvalidEventError(ValueError):
    """The event cannot be processed; nothing was generated or uploaded."""


@dataclass(frozen=True)
class Params:
    rows: int
    seed: int
    bucket: str
    prefix: str


def _integer(event: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = event.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidEventError(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value


def _prefix(value: object) -> str:
    """Single slashes between segments; no empty, '.' or '..' segment; at most 200 characters."""
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidEventError(f"not a usable key prefix: {value!r}")
    segments = value.split("/")
    if any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        raise InvalidEventError(
            f"not a usable key prefix: {value!r} (letters, digits, !_.*'()=- between single "
            "slashes; no '.' or '..' segments)"
        )
    return value


def parse_event(event: Any, environ: Mapping[str, str]) -> Params:
    """Validated parameters, or InvalidEventError saying what is wrong."""
    if isinstance(event, str):
        try:
            event = json.loads(event) if event.strip() else {}
        except ValueError:
            raise InvalidEventError("the event is not JSON") from None
    if event is None:
        event = {}
    if not isinstance(event, Mapping):
        raise InvalidEventError(f"the event must be a JSON object, got {type(event).__name__}")
    rows = _integer(event, "rows", DEFAULT_ROWS, 1, MAX_ROWS)
    seed = _integer(event, "seed", secrets.randbits(32), 0, 2**32 - 1)
    bucket = event.get("bucket") or environ.get("ARTIFACT_BUCKET")
    if not bucket:
        raise InvalidEventError("no bucket: pass 'bucket' in the event or set ARTIFACT_BUCKET")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket):
        raise InvalidEventError(f"not a valid S3 bucket name: {bucket!r}")
    prefix = _prefix(event.get("prefix") or environ.get("ARTIFACT_PREFIX") or DEFAULT_PREFIX)
    return Params(rows=rows, seed=seed, bucket=bucket, prefix=prefix)


_RUN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class ShardParams:
    """One shard of a fan-out run: its rows of the synthetic table, or one input object."""

    run: str
    shard: int
    shards: int
    rows: int
    seed: int
    bucket: str
    prefix: str
    input_bucket: str | None = None
    input_key: str | None = None
    input_etag: str | None = None  # the object as listed when the run started

    @property
    def run_prefix(self) -> str:
        return f"{self.prefix}/{self.run}"

    @property
    def shard_prefix(self) -> str:
        return f"{self.run_prefix}/shards/{self.shard}"


@dataclass(frozen=True)
class ReduceParams:
    run: str
    shards: int
    seed: int
    bucket: str
    prefix: str

    @property
    def run_prefix(self) -> str:
        return f"{self.prefix}/{self.run}"


def _run_id(event: Mapping[str, Any]) -> str:
    run = event.get("run")
    if not isinstance(run, str) or not _RUN.match(run):
        raise InvalidEventError(f"run must be an id of letters, digits, - and _, got {run!r}")
    return run


def _input(event: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    source = event.get("input")
    if source is None:
        return None, None, None
    if not isinstance(source, Mapping):
        raise InvalidEventError("input must be an object with bucket and key")
    bucket, key = source.get("bucket"), source.get("key")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or not isinstance(key, str):
        raise InvalidEventError(f"input needs a valid bucket and a key, got {dict(source)!r}")
    etag = source.get("etag")
    if etag is not None and not isinstance(etag, str):
        raise InvalidEventError("input.etag must be a string")
    return bucket, key, etag or None


def parse_shard_event(event: Any, environ: Mapping[str, str]) -> ShardParams:
    base = parse_event(event, environ)
    shards = _integer(event, "shards", 1, 1, 10_000)
    shard = _integer(event, "shard", 0, 0, shards - 1)
    input_bucket, input_key, input_etag = _input(event)
    return ShardParams(
        run=_run_id(event),
        shard=shard,
        shards=shards,
        rows=base.rows,
        seed=base.seed,
        bucket=base.bucket,
        prefix=base.prefix,
        input_bucket=input_bucket,
        input_key=input_key,
        input_etag=input_etag,
    )


def parse_reduce_event(event: Any, environ: Mapping[str, str]) -> ReduceParams:
    base = parse_event(event, environ)
    return ReduceParams(
        run=_run_id(event),
        shards=_integer(event, "shards", 1, 1, 10_000),
        seed=base.seed,
        bucket=base.bucket,
        prefix=base.prefix,
    )
