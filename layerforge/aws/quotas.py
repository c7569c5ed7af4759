"""What a fan-out's state machine carries, computed from its definition: the largest document
each step holds, and the events of the parent execution's history, against the quotas Step
Functions and Lambda document. moto enforces none of them, so they are proven here, from the
definition layerforge generates and the run's own execution input and items.

The computation walks the definition as Step Functions runs it (JSONPath: ``InputPath``,
``Parameters``/``ItemSelector``, ``ResultSelector``, ``ResultPath``, ``OutputPath``; the
context object's ``$$.Execution.Input`` and ``$$.Map.Item``), once, with the run's largest item
and, for each task, the function's response when one is given (a function's response is its
own: layerforge bounds what it adds around it). Sizes are of compact UTF-8 JSON, the way Step
Functions counts them.

Quotas (each from the AWS page named beside it):

* 262,144 bytes: a task's, state's or execution's input or output
  (https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html);
* 25,000 events in a standard execution's history (same page); a Distributed Map's items run
  as child executions, each with its own history
  (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html);
* 10,000 parallel child executions of a Distributed Map (same page) and at most 100,000,000
  items from its ItemReader
  (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html);
* 6 MB (6,291,456 bytes) a synchronous Lambda invoke's payload, each way
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HISTORY_EVENTS",
    "INVOKE_ENVELOPE_BYTES",
    "LAMBDA_PAYLOAD_BYTES",
    "MAX_CHILD_CONCURRENCY",
    "MAX_ITEMS",
    "STATE_BYTES",
    "Measure",
    "QuotaReport",
    "json_bytes",
    "measure_fanout",
]

STATE_BYTES = 262_144
HISTORY_EVENTS = 25_000
MAX_CHILD_CONCURRENCY = 10_000
MAX_ITEMS = 100_000_000
LAMBDA_PAYLOAD_BYTES = 6_291_456
#: What the lambda:invoke integration wraps a response in (StatusCode, ExecutedVersion, the
#: HTTP headers and request id): an allowance, as its exact bytes vary by region and time.
INVOKE_ENVELOPE_BYTES = 2_048
#: The Map Run ARN and ResultWriter details a Distributed Map returns with a ResultWriter:
#: ``arn:PARTITION:states:REGION:ACCOUNT:mapRun:MACHINE/LABEL:UUID`` (names up to 80
#: characters each) and the manifest's bucket and key.
_MAP_RUN_ARN_BYTES = 320

_STATES = "https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html"


@dataclass(frozen=True)
class Measure:
    """One computed quantity against its quota: ``what`` it is, ``value`` and ``quota`` in
    ``unit`` (bytes, events, items, executions)."""

    what: str
    value: int
    quota: int
    unit: str = "bytes"

    @property
    def within(self) -> bool:
        return self.value <= self.quota

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "value": self.value, "quota": self.quota, "unit": self.unit}


@dataclass
class QuotaReport:
    """Every measure of one run's definition; ``largest_state`` is the largest state any step
    carries (the number the 256 KiB quota is about)."""

    measures: list[Measure] = field(default_factory=list)

    def add(self, what: str, value: int, quota: int = STATE_BYTES, unit: str = "bytes") -> None:
        self.measures.append(Measure(what, value, quota, unit))

    def size(self, what: str, document: Any, quota: int = STATE_BYTES) -> None:
        """The document's size, unless it is not known (a task given no response)."""
        if document is not _UNKNOWN:
            self.add(what, json_bytes(document), quota)

    def get(self, what: str) -> Measure:
        return next(m for m in self.measures if m.what == what)

    @property
    def largest_state(self) -> Measure:
        states = [m for m in self.measures if m.quota == STATE_BYTES and m.unit == "bytes"]
        return max(states, key=lambda m: m.value)

    @property
    def exceeded(self) -> list[Measure]:
        return [m for m in self.measures if not m.within]

    def summary(self) -> dict[str, Any]:
        """The plan's view: the largest state, the history, and whether all are within."""
        largest = self.largest_state
        return {
            "largest_state": {"what": largest.what, "bytes": largest.value, "quota": STATE_BYTES},
            "execution_history": self.get("execution history").to_dict(),
            "within_quotas": not self.exceeded,
            "exceeded": [m.to_dict() for m in self.exceeded],
            "source": _STATES,
        }


_UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "<unknown>"})()  # no response


def json_bytes(document: Any) -> int:
    """The size Step Functions counts: compact JSON, UTF-8."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())


def _path(document: Any, path: str, context: Mapping[str, Any]) -> Any:
    """A reference path: ``$``, ``$.a.b`` on the document, ``$$.a.b`` on the context object."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (document, path[1:])
    for part in filter(None, rest.split(".")):
        root = root[part]
    return root


def _select(document: Any, path: str, context: Mapping[str, Any]) -> Any:
    """``InputPath``/``OutputPath`` (unknown stays unknown)."""
    return document if document is _UNKNOWN else _path(document, path, context)


def _template(template: Any, document: Any, context: Mapping[str, Any]) -> Any:
    """``Parameters``/``ItemSelector``/``ResultSelector``: keys ending ``.$`` take a path."""
    if isinstance(template, Mapping):
        built: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                built[key[:-2]] = _path(document, value, context)
            else:
                built[key] = _template(value, document, context)
        return built
    if isinstance(template, list):
        return [_template(value, document, context) for value in template]
    return template


def _merge(state: Mapping[str, Any], state_input: Any, result: Any) -> Any:
    """``ResultPath``: null keeps the input, ``$`` (the default) is the result, ``$.a.b``
    places the result in a copy of the input."""
    if "ResultPath" in state and state["ResultPath"] is None:
        return state_input
    path = state.get("ResultPath", "$")
    if path == "$" or result is _UNKNOWN or state_input is _UNKNOWN:
        return result if path == "$" else _UNKNOWN
    merged = copy.deepcopy(state_input)
    parts = path[2:].split(".")
    target = merged
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = result
    return merged


@dataclass
class _Walk:
    """One walk of a (sub-)state machine: the report it adds to, the context object, the
    items of a Distributed Map, and the functions' responses by state name."""

    report: QuotaReport
    context: dict[str, Any]
    items: Sequence[Any]
    responses: Mapping[str, Any]
    prefix: str = ""
    events: int = 0

    def machine(self, definition: Mapping[str, Any], document: Any) -> Any:
        """Run the states from ``StartAt`` to the end; the execution's output."""
        name: str | None = definition["StartAt"]
        while name is not None:
            state = definition["States"][name]
            document = self.state(f"{self.prefix}{name}", state, document)
            name = None if state.get("End") else state.get("Next")
        return document

    def state(self, name: str, state: Mapping[str, Any], state_input: Any) -> Any:
        self.report.size(f"{name}: input", state_input)
        effective = _select(state_input, state.get("InputPath", "$"), self.context)
        if state["Type"] == "Map":
            result = self.map(name, state, effective)
            self.report.size(f"{name}: map result", result)
        elif state["Type"] == "Task":
            result = self.task(name, state, effective)
        else:  # Pass and friends: their input is their result
            self.events += 2
            result = effective
        if "ResultSelector" in state and result is not _UNKNOWN:
            result = _template(state["ResultSelector"], result, self.context)
        output = _select(_merge(state, state_input, result), state.get("OutputPath", "$"), {})
        self.report.size(f"{name}: output", output)
        return output

    def task(self, name: str, state: Mapping[str, Any], effective: Any) -> Any:
        if effective is not _UNKNOWN:
            parameters = _template(state.get("Parameters", {}), effective, self.context)
            self.report.size(f"{name}: task input (Parameters)", parameters)
            payload = parameters.get("Payload", effective)
            self.report.size(f"{name}: Lambda invoke payload", payload, LAMBDA_PAYLOAD_BYTES)
        attempts = 1 + sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))
        # TaskStateEntered/Exited, and Scheduled, Started, Succeeded|Failed per attempt
        self.events += 2 + 3 * attempts
        base = name[len(self.prefix) :]
        if base not in self.responses:
            return _UNKNOWN
        response = self.responses[base]
        self.report.size(f"{name}: Lambda response", response, LAMBDA_PAYLOAD_BYTES)
        self.report.add(
            f"{name}: task result (with the invoke's metadata)",
            json_bytes(response) + INVOKE_ENVELOPE_BYTES,
        )
        return {"ExecutedVersion": "$LATEST", "Payload": response, "StatusCode": 200}

    def map(self, name: str, state: Mapping[str, Any], effective: Any) -> Any:
        # MapStateEntered, Started, MapRunStarted, MapRunSucceeded|Failed, Succeeded, Exited
        self.events += 6
        items = list(self.items)
        self.report.add(f"{name}: items", len(items), MAX_ITEMS, "items")
        self.report.add(
            f"{name}: MaxConcurrency",
            int(state.get("MaxConcurrency", 0)) or MAX_CHILD_CONCURRENCY,
            MAX_CHILD_CONCURRENCY,
            "executions",
        )
        largest = max(range(len(items)), key=lambda i: json_bytes(items[i]), default=None)
        if largest is None:
            return []
        self.report.size(f"{name}: largest item", items[largest])
        context = {**self.context, "Map": {"Item": {"Index": largest, "Value": items[largest]}}}
        selector = state.get("ItemSelector", {"value.$": "$$.Map.Item.Value"})
        child_input = selector and _template(selector, effective, context)
        self.report.size(f"{name}: child execution input", child_input)
        child = _Walk(
            self.report, {"Execution": {"Input": child_input}}, (), self.responses, f"{name} > "
        )
        child_output = child.machine(state["ItemProcessor"], child_input)
        self.report.size(f"{name} > child execution output", child_output)
        self.report.add(
            f"{name} > child execution history", 2 + child.events, HISTORY_EVENTS, "events"
        )
        if "ResultWriter" in state:  # the results go to S3: the state gets where they are
            details = _template(state["ResultWriter"].get("Parameters", {}), effective, context)
            return {"MapRunArn": "x" * _MAP_RUN_ARN_BYTES, "ResultWriterDetails": details}
        if child_output is _UNKNOWN:
            return _UNKNOWN
        # without a ResultWriter every child's output is collected into the state
        return [child_output] * len(items)


def measure_fanout(
    definition: Mapping[str, Any],
    *,
    execution_input: Mapping[str, Any],
    items: Sequence[Any],
    responses: Mapping[str, Any] | None = None,
) -> QuotaReport:
    """Every state a run of ``definition`` carries with this execution input and item list
    (the largest item stands for all of them), each task's response given by state name, and
    the parent and child executions' history events, against their quotas."""
    report = QuotaReport()
    report.add("execution input", json_bytes(execution_input))
    walk = _Walk(report, {"Execution": {"Input": execution_input}}, items, responses or {})
    output = walk.machine(definition, dict(execution_input))
    report.size("execution output", output)
    report.add("execution history", 2 + walk.events, HISTORY_EVENTS, "events")
    return report
