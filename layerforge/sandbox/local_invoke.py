"""``invoke-local``'s one entry point: a single run of the function in the sandbox
(``local_run``), or, with a fan-out, its shards and reduce (``local_fanout``)."""

from __future__ import annotations

from layerforge.events import EventSink
from layerforge.proof import ProofReport
from layerforge.sandbox.environment import SandboxSpec
from layerforge.sandbox.local_fanout import invoke_local_fanout
from layerforge.sandbox.local_run import LocalRun, invoke_single

__all__ = ["invoke_local"]


def invoke_local(run: LocalRun, spec: SandboxSpec, *, sink: EventSink) -> ProofReport:
    """Run the function with the layer in the sandbox and prove what it did."""
    if run.fanout is not None:
        return invoke_local_fanout(run, run.fanout, spec, sink=sink)
    return invoke_single(run, spec, sink=sink)
