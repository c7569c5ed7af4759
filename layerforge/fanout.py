"""A fan-out run, independent of where it runs: N shards of the synthetic table (or one shard
per CSV object under an S3 prefix), each computing mergeable partial statistics, then a reduce
that merges them.

Step Functions (``layerforge.aws.distributed_map``) and the local sandboxes
(``layerforge.sandbox.local_fanout``) run the same items with the same events, so a run proven
locally is the run AWS executes. The run id names everything: the S3 prefix, the execution, the
seed (when none is given); a rerun of an id writes the same objects.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from layerforge.errors import UsageError
from layerforge.proof.report import Outcome

__all__ = [
    "MAX_SHARDS",
    "FanOut",
    "InputObject",
    "check_same_parameters",
    "default_run_id",
    "fanout_outcome",
    "incomplete_message",
    "list_csv_inputs",
    "missing_partials",
    "parse_s3_url",
    "plan_fanout",
    "run_parameters",
    "seed_for",
    "shard_errors",
    "shard_reports",
    "shard_section",
]

MAX_SHARDS = 10_000  # the payload's own bound; Distributed Map would take more
SHARD_ATTEMPTS = 3  # a failing shard is tried this often (Step Functions' Retry, and locally)
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")


def default_run_id() -> str:
    """``20261127T103500Z-1a2b3c``: sortable, unique enough, valid as an execution name."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def seed_for(run_id: str) -> int:
    """The seed of a run that was given none: a pure function of the id, so reruns agree."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:4], "big")


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise UsageError(
            f"--run-id {run_id!r} is not valid", hint="1-64 letters, digits, '-' or '_'"
        )
    return run_id


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> (bucket, ``some/prefix/``); the prefix may be empty."""
    match = _S3_URL.match(url.strip())
    if not match:
        raise UsageError(
            f"--input {url!r} is not an S3 prefix", hint="give s3://BUCKET/PREFIX/ (CSV objects)"
        )
    prefix = (match.group(2) or "").lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return match.group(1), prefix


@dataclass(frozen=True)
class InputObject:
    """One CSV object of an input-mode run, pinned by its ETag (a shard refuses a changed one)."""

    key: str
    etag: str
    size: int


def list_csv_inputs(
    s3: Any, bucket: str, prefix: str
) -> tuple[tuple[InputObject, ...], tuple[str, ...]]:
    """Every non-empty ``.csv`` object under the prefix, in key order (the shard numbering),
    and the keys of the empty ones, which no shard reads: (inputs, skipped)."""
    found: list[InputObject] = []
    empty: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            if not key.lower().endswith(".csv"):
                continue
            if int(item.get("Size", 0)) > 0:
                found.append(InputObject(key, str(item.get("ETag", "")), int(item["Size"])))
            else:
                empty.append(key)
    if not found:
        also = f" ({len(empty)} empty: {_some(sorted(empty))})" if empty else ""
        raise UsageError(
            f"no non-empty CSV objects under s3://{bucket}/{prefix}{also}",
            hint="--input names a prefix holding .csv objects (one shard each)",
        )
    if len(found) > MAX_SHARDS:
        raise UsageError(
            f"{len(found)} CSV objects under s3://{bucket}/{prefix}; at most {MAX_SHARDS}",
            hint="split the input over several prefixes",
        )
    return tuple(sorted(found, key=lambda o: o.key)), tuple(sorted(empty))


def _some(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True, kw_only=True)
class FanOut:
    """One fan-out run: its id, what its shards read, how many run at once."""

    run_id: str
    seed: int
    shards: int = 0
    rows: int = 10_000
    input_bucket: str | None = None
    input_prefix: str = ""
    inputs: tuple[InputObject, ...] = ()
    skipped: tuple[str, ...] = ()  # empty CSV objects under the input prefix: no shard
    max_concurrency: int = 10
    layer_sha256: str | None = None  # the layer the run proves (part of its parameters)

    def __post_init__(self) -> None:
        check_run_id(self.run_id)
        if self.input_bucket is None and not 1 <= self.shards <= MAX_SHARDS:
            raise UsageError(
                f"--shards {self.shards} is out of range", hint=f"1 to {MAX_SHARDS} shards"
            )

    @property
    def count(self) -> int:
        return len(self.inputs) if self.input_bucket else self.shards

    @property
    def label(self) -> str:
        if self.input_bucket:
            return f"{self.count} CSV objects of s3://{self.input_bucket}/{self.input_prefix}"
        return f"{self.shards} shards of {self.rows:,} rows"

    def run_prefix(self, prefix: str) -> str:
        return f"{prefix}/{self.run_id}"

    def items_key(self, prefix: str) -> str:
        """Where the item list is written for the Distributed Map's ItemReader."""
        return f"{self.run_prefix(prefix)}/items.json"

    def results_prefix(self, prefix: str) -> str:
        """Where the Distributed Map's ResultWriter writes the shards' results (on S3, not in
        the execution's state: that stays bounded whatever the number of shards)."""
        return f"{self.run_prefix(prefix)}/map-results"

    def listed(self, s3: Any) -> FanOut:
        """This run with its input objects listed (input mode; unchanged otherwise)."""
        if not self.input_bucket:
            return self
        inputs, skipped = list_csv_inputs(s3, self.input_bucket, self.input_prefix)
        return replace(self, inputs=inputs, skipped=skipped)

    def skipped_note(self) -> str | None:
        """What the listing left out, for the run's notes (None when nothing was)."""
        if not self.skipped:
            return None
        plural = "s" if len(self.skipped) != 1 else ""
        return (
            f"skipped {len(self.skipped)} empty CSV object{plural} under "
            f"s3://{self.input_bucket}/{self.input_prefix} (no shard reads them): "
            f"{_some(self.skipped)}"
        )

    def items(self) -> list[dict[str, Any]]:
        """One map item per shard: its index and, in input mode, the object it reads."""
        if not self.input_bucket:
            return [{"shard": i, "input": None} for i in range(self.shards)]
        return [
            {"shard": i, "input": {"bucket": self.input_bucket, "key": o.key, "etag": o.etag}}
            for i, o in enumerate(self.inputs)
        ]

    def common(self, *, bucket: str, prefix: str) -> dict[str, Any]:
        """What every shard and the reduce are told (the execution's input)."""
        return {
            "run": self.run_id,
            "shards": self.count,
            "rows": self.rows,
            "seed": self.seed,
            "bucket": bucket,
            "prefix": prefix,
        }

    def parameters(self, *, bucket: str, prefix: str) -> dict[str, Any]:
        """What decides the run's result, stored with the run (its execution's input): a rerun
        of the run id with other parameters is refused instead of mixing two runs."""
        found: dict[str, Any] = {
            "shards": self.count,
            "rows": self.rows,
            "seed": self.seed,
            "bucket": bucket,
            "prefix": prefix,
        }
        if self.input_bucket:
            found["input"] = f"s3://{self.input_bucket}/{self.input_prefix}"
            listed = json.dumps(self.items(), sort_keys=True, separators=(",", ":"))
            found["inputs_sha256"] = hashlib.sha256(listed.encode()).hexdigest()
        if self.layer_sha256:
            found["layer_sha256"] = self.layer_sha256
        return found

    def execution_input(self, *, bucket: str, prefix: str) -> dict[str, Any]:
        """The Step Functions execution's input: what every step is told, where the items and
        results live, and the run's parameters. Its size does not grow with the shards."""
        return {
            **self.common(bucket=bucket, prefix=prefix),
            "items_key": self.items_key(prefix),
            "results_prefix": self.results_prefix(prefix),
            "parameters": self.parameters(bucket=bucket, prefix=prefix),
        }

    def shard_event(self, item: Mapping[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
        return {"mode": "shard", **common, "shard": item["shard"], "input": item["input"]}

    def reduce_event(self, common: Mapping[str, Any]) -> dict[str, Any]:
        """The reduce reads every shard's partial from S3 by key: it is told nothing per shard,
        so its event stays the same size whatever the number of shards."""
        return {"mode": "reduce", **common}

    def templates(self) -> dict[str, str]:
        """Proof-spec template values of the run: ``{run}`` and ``{shards}``."""
        return {"run": self.run_id, "shards": str(self.count)}

    def plan(self, *, bucket: str, prefix: str) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "what": self.label,
            "seed": self.seed,
            "max_concurrency": self.max_concurrency,
            "run_prefix": f"s3://{bucket}/{self.run_prefix(prefix)}/",
            "items": f"s3://{bucket}/{self.items_key(prefix)}",
            "results": f"s3://{bucket}/{self.results_prefix(prefix)}/",
            "parameters": self.parameters(bucket=bucket, prefix=prefix),
            **({"skipped": list(self.skipped)} if self.skipped else {}),
        }


_RESULT_KEYS = ("shards", "rows", "seed", "bucket", "prefix")


def run_parameters(execution_input: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters an execution was started with: its ``parameters``, or, for an execution
    started before they were stored, what its input held of them."""
    stored = execution_input.get("parameters")
    if isinstance(stored, Mapping):
        return dict(stored)
    return {key: execution_input[key] for key in _RESULT_KEYS if key in execution_input}


def _shown(parameters: Mapping[str, Any], keys: Iterable[str]) -> str:
    def value(key: str) -> str:
        found = parameters.get(key)
        if isinstance(found, str) and key.endswith("sha256"):
            return found[:12]
        return json.dumps(found) if not isinstance(found, str) else found

    return ", ".join(f"{key}={value(key)}" for key in keys)


def check_same_parameters(
    run_id: str, before: Mapping[str, Any], now: Mapping[str, Any], *, where: str
) -> None:
    """A run id names one run: a rerun whose parameters differ from those stored with the run
    is refused, naming both (a parameter the earlier run did not store is not compared)."""
    differ = [key for key in now if key in before and before[key] != now[key]]
    if not differ:
        return
    raise UsageError(
        f"--run-id {run_id} already ran with {_shown(before, differ)} ({where}); this run asks "
        f"for {_shown(now, differ)}",
        hint="rerun with the same parameters (or none of --shards/--input/--event changed), "
        "or choose a new --run-id",
        details=f"the run's parameters: {_shown(before, before)}\n"
        f"this run's parameters: {_shown(now, now)}",
    )


def missing_partials(s3: Any, bucket: str, prefix: str, fanout: FanOut) -> list[int]:
    """The shards with no ``partial.json``: a fact read from S3, whatever the engine said."""
    run_prefix = fanout.run_prefix(prefix)
    present: set[int] = set()
    pattern = re.compile(rf"^{re.escape(run_prefix)}/shards/(\d+)/partial\.json$")
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{run_prefix}/shards/"):
        for item in page.get("Contents", []):
            match = pattern.match(str(item["Key"]))
            if match:
                present.add(int(match.group(1)))
    return [i for i in range(fanout.count) if i not in present]


def shard_section(
    fanout: FanOut, results: Iterable[Any], failures: Mapping[int, str] | None = None
) -> list[dict[str, Any]]:
    """The proof document's ``shards``: each shard's status, duration and rows.

    A shard the results do not report (the engine returned no output, as a failed Step
    Functions run does) counts as finished unless ``failures`` names it: ``failures`` holds
    every shard whose partial statistics are missing."""
    reported: dict[int, dict[str, Any]] = {}
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("shard"), int):
            reported[result["shard"]] = result
    failures = failures or {}
    section = []
    for shard in range(fanout.count):
        found = reported.get(shard, {})
        ok = shard not in failures and found.get("status", "ok") == "ok"
        entry: dict[str, Any] = {
            "shard": shard,
            "status": "ok" if ok else "failed",
            "seconds": found.get("seconds"),
            "rows": found.get("rows"),
        }
        if found.get("input"):
            entry["input"] = found["input"]
        elif fanout.inputs:
            entry["input"] = fanout.inputs[shard].key
        if shard in failures:
            entry["error"] = failures[shard]
        section.append(entry)
    return section


def _log_records(log_lines: Iterable[str], event: str, run_id: str) -> Iterable[dict[str, Any]]:
    """The function's own JSON log lines of ``event`` for this run, each naming its shard."""
    marker = f'"{event}"'
    for line in log_lines:
        if marker not in line:
            continue
        try:
            record = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and record.get("event") == event
            and record.get("run") == run_id
            and isinstance(record.get("shard"), int)
        ):
            yield record


def shard_errors(log_lines: Iterable[str], run_id: str) -> dict[int, str]:
    """Why shards failed, from the function's own ``shard_failed`` log lines (the last word
    of each shard's last attempt)."""
    return {
        record["shard"]: str(record.get("error", "failed"))
        for record in _log_records(log_lines, "shard_failed", run_id)
    }


def shard_reports(log_lines: Iterable[str], run_id: str) -> list[dict[str, Any]]:
    """What each finished shard reported (rows, seconds, input), from the function's own
    ``shard_done`` log lines: the engine's state carries no per-shard results."""
    return list(_log_records(log_lines, "shard_done", run_id))


def incomplete_message(fanout: FanOut, missing: Sequence[int], why: str) -> str:
    """What a run whose shards did not all finish says: the shards named, nothing merged."""
    shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
    plural = "s" if len(missing) != 1 else ""
    return (
        f"shard{plural} {shown} of {fanout.count} failed ({why}); no merged statistics were written"
    )


def _event_int(event: Mapping[str, Any], name: str, default: int) -> int:
    value = event.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"the event's {name} must be a whole number, not {value!r}")
    return value


def plan_fanout(
    event: Mapping[str, Any],
    *,
    shards: int | None,
    input_url: str | None,
    run_id: str | None,
    max_concurrency: int,
) -> FanOut | None:
    """The run ``--shards``/``--input`` ask for (None for a single invocation). The event's
    ``rows`` are the whole table's and ``seed`` the run's (default: from the run id)."""
    if shards is None and input_url is None:
        if run_id is not None:
            raise UsageError("--run-id names a fan-out run", hint="add --shards N or --input")
        return None
    if shards is not None and input_url is not None:
        raise UsageError(
            "give --shards or --input, not both",
            hint="--shards splits a synthetic table; --input reads one CSV object per shard",
        )
    run = check_run_id(run_id) if run_id is not None else default_run_id()
    seed = _event_int(event, "seed", seed_for(run)) if "seed" in event else seed_for(run)
    rows = _event_int(event, "rows", 10_000)
    if input_url is not None:
        bucket, prefix = parse_s3_url(input_url)
        return FanOut(
            run_id=run,
            seed=seed,
            rows=rows,
            input_bucket=bucket,
            input_prefix=prefix,
            max_concurrency=max_concurrency,
        )
    assert shards is not None
    if rows < shards:
        raise UsageError(
            f"{rows} rows cannot fill {shards} shards",
            hint="give more rows (--event '{\"rows\": ...}') or fewer --shards",
        )
    return FanOut(run_id=run, seed=seed, shards=shards, rows=rows, max_concurrency=max_concurrency)


def fanout_outcome(
    fanout: FanOut,
    *,
    succeeded: bool,
    output: Any,
    why: str,
    missing: list[int],
    log_lines: list[str],
) -> tuple[Outcome, dict[int, str]]:
    """The reduce step's answer as the proof's outcome; a run that failed, or whose shards did
    not all leave their partials, fails naming the shards (read from S3, not from the engine)."""
    if succeeded and not missing:
        return Outcome(200, None, output, log_lines), {}
    message = incomplete_message(fanout, missing, why) if missing else f"the run failed: {why}"
    failures = dict.fromkeys(missing, why)
    return Outcome(200, "Unhandled", {"errorMessage": message}, log_lines), failures
