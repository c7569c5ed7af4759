"""The function's event, validated: standard library only, so layerforge's pre-flight checks the
event it is about to send with exactly the rules the function applies."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_PREFIX", "InvalidEventError", "Params", "parse_event"]

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
