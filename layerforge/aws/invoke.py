"""Invoke synchronously with the log tail, and read what Lambda reports about the run."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["InvocationResult", "invoke_function"]

_REPORT = {
    "duration_ms": re.compile(r"\bDuration: ([\d.]+) ms"),
    "billed_ms": re.compile(r"Billed Duration: ([\d.]+) ms"),
    "init_ms": re.compile(r"Init Duration: ([\d.]+) ms"),
    "max_memory_mb": re.compile(r"Max Memory Used: (\d+) MB"),
}


@dataclass(frozen=True)
class InvocationResult:
    status_code: int
    function_error: str | None
    payload: Any
    raw_payload: str
    log_tail: str
    request_id: str
    metrics: dict[str, float]

    @property
    def log_lines(self) -> list[str]:
        return self.log_tail.splitlines()


def _metrics(log_tail: str) -> dict[str, float]:
    report = next((line for line in log_tail.splitlines() if line.startswith("REPORT")), "")
    found = {}
    for name, pattern in _REPORT.items():
        # "Duration" also matches inside "Billed Duration": take the first match only
        match = pattern.search(report)
        if match:
            found[name] = float(match.group(1))
    return found


def invoke_function(lambda_: Any, name: str, event: Mapping[str, Any]) -> InvocationResult:
    response = lambda_.invoke(
        FunctionName=name,
        InvocationType="RequestResponse",
        LogType="Tail",
        Payload=json.dumps(event).encode("utf-8"),
    )
    raw = response["Payload"].read().decode("utf-8", "replace")
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    tail = base64.b64decode(response.get("LogResult", "") or "").decode("utf-8", "replace")
    request_id = (payload or {}).get("request_id") if isinstance(payload, dict) else None
    return InvocationResult(
        status_code=int(response.get("StatusCode", 0)),
        function_error=response.get("FunctionError"),
        payload=payload,
        raw_payload=raw,
        log_tail=tail,
        request_id=str(request_id or response.get("ResponseMetadata", {}).get("RequestId", "")),
        metrics=_metrics(tail),
    )
