"""invoke-local: a function (the bundled payload or a project's own) in the sandbox, S3 from an
embedded moto server on loopback (or ``endpoint_url``), then the proof spec's three checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from layerforge.errors import LayerforgeError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.fanout import FanOut
from layerforge.functions import FunctionSource
from layerforge.proof import Outcome, ProofReport, ProofSpec, Templates, check_all, proof_plan
from layerforge.proof.inputs import upload_inputs
from layerforge.sandbox.engines import open_sandbox
from layerforge.sandbox.environment import SandboxSpec
from layerforge.scratch import scratch_dir

__all__ = [
    "LocalRun",
    "LocalSession",
    "embedded_s3",
    "invoke_single",
    "local_plan",
    "local_s3",
    "local_session",
    "run_details",
]

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "layerforge-local",
    "AWS_SECRET_ACCESS_KEY": "layerforge-local",
}


@contextmanager
def embedded_s3() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the length of the block; yields its endpoint."""
    try:
        # an optional extra (320 ms): only without --endpoint-url
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError(
            "invoke-local needs moto's server for its local S3",
            hint="pip install 'layerforge[local]', or pass --endpoint-url",
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on our stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def local_s3(endpoint: str, region: str) -> Any:
    import boto3  # boto3 (120 ms): invoke-local only, never smoke

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _ensure_bucket(s3: Any, bucket: str, url: str) -> None:
    import botocore.exceptions  # with boto3, invoke-local only

    try:
        try:
            s3.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError:
            s3.create_bucket(Bucket=bucket)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise LayerforgeError(
            f"cannot use bucket {bucket} at {url}: {exc}", hint="check --endpoint-url and --bucket"
        ) from None


@dataclass(frozen=True, kw_only=True)
class LocalRun:
    """What invoke-local runs, where, and how it is judged."""

    layer: Path
    function: FunctionSource
    proof: ProofSpec
    event: Mapping[str, Any]
    bucket: str = "layerforge-local"
    prefix: str = "automated-analysis"
    region: str = "us-east-1"
    endpoint_url: str | None = None
    engine: str = "auto"
    environment: Mapping[str, str] | None = None
    fanout: FanOut | None = None  # map and reduce in parallel sandboxes instead of one run
    input_dir: Path | None = None  # CSV files uploaded to the fan-out's input prefix first

    def templates(self, spec: SandboxSpec) -> Templates:
        values = {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "region": self.region,
            "function": spec.function_name,
            **(self.fanout.templates() if self.fanout else {}),
        }
        return Templates(values, event=dict(self.event))


def _sandbox_spec(run: LocalRun, spec: SandboxSpec, url: str) -> SandboxSpec:
    environment = {
        **spec.environment,
        **(run.environment or {}),
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": url,
        "AWS_REGION": run.region,
        "AWS_DEFAULT_REGION": run.region,
        "ARTIFACT_BUCKET": run.bucket,
        "ARTIFACT_PREFIX": run.prefix,
    }
    return replace(spec, network="host", environment=environment)


@dataclass(frozen=True)
class LocalSession:
    """The local S3 a run talks to, with its buckets made and its inputs uploaded."""

    url: str
    s3: Any
    uploaded: list[dict[str, str]]
    spec: SandboxSpec  # the sandbox, pointed at that S3


@contextmanager
def local_session(run: LocalRun, spec: SandboxSpec) -> Iterator[LocalSession]:
    server: AbstractContextManager[str] = (
        nullcontext(run.endpoint_url) if run.endpoint_url else embedded_s3()
    )
    with server as url:
        s3 = local_s3(url, run.region)
        _ensure_bucket(s3, run.bucket, url)
        for bucket in {run.templates(spec).expand(i.bucket) for i in run.proof.inputs}:
            _ensure_bucket(s3, bucket, url)
        uploaded = upload_inputs(s3, run.proof, run.templates(spec))
        yield LocalSession(url, s3, uploaded, _sandbox_spec(run, spec, url))


def run_details(run: LocalRun, session: LocalSession, engine: str) -> dict[str, Any]:
    return {
        "endpoint": session.url,
        "bucket": run.bucket,
        "layer": str(run.layer),
        "function": run.function.label,
        "proof_spec": run.proof.source,
        **({"inputs": session.uploaded} if session.uploaded else {}),
        "engine": engine,
        "runtime": session.spec.runtime.name,
        "architecture": session.spec.architecture.value,
        **({"notes": list(run.proof.notes)} if run.proof.notes else {}),
    }


def local_plan(run: LocalRun, spec: SandboxSpec) -> dict[str, Any]:
    """What invoke-local will do (``--dry-run`` prints it): checked, nothing started."""
    return {
        "layer": str(run.layer),
        "runtime": spec.runtime.name,
        "architecture": spec.architecture.value,
        "sandbox": run.engine,
        "endpoint": run.endpoint_url or "an embedded moto server",
        "function": {"code": run.function.label, "handler": run.function.handler},
        "event": dict(run.event),
        "proof_spec": run.proof.source,
        **proof_plan(run.proof, run.templates(spec), run.bucket),
        **({"fanout": run.fanout.plan(bucket=run.bucket, prefix=run.prefix)} if run.fanout else {}),
        **({"notes": list(run.proof.notes)} if run.proof.notes else {}),
    }


def invoke_single(run: LocalRun, spec: SandboxSpec, *, sink: EventSink) -> ProofReport:
    """Run the function once with the layer in the sandbox and prove what it did."""
    with local_session(run, spec) as session, scratch_dir("layerforge-task-") as scratch:
        code = run.function.stage(scratch / "task")
        with open_sandbox(run.layer, session.spec, code=code, engine=run.engine, sink=sink) as box:
            engine_used = box.engine
            sink(Event(EventKind.NOTE, "invoke", f"invoking {run.function.handler}"))
            invocation = box.invoke(run.function.handler, run.event)
        outcome = Outcome(
            200, None if invocation.succeeded else "Unhandled", invocation.result, invocation.logs
        )
        report = check_all(outcome, session.s3, run.proof, run.templates(spec))
        report.details = run_details(run, session, engine_used)
    return report
