"""invoke-local: the real payload in the sandbox, S3 from an embedded moto server on loopback
(or ``endpoint_url``), then the same three proof checks as publish-and-invoke."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from layerforge.aws.proof import Outcome, ProofReport, check_all
from layerforge.errors import LayerforgeError, UsageError
from layerforge.events import Event, EventKind, EventSink
from layerforge.functions import HANDLER, stage_function
from layerforge.sandbox.engines import open_sandbox
from layerforge.sandbox.environment import SandboxSpec

__all__ = ["embedded_s3", "invoke_local"]

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "layerforge-local",
    "AWS_SECRET_ACCESS_KEY": "layerforge-local",
}


@contextmanager
def embedded_s3() -> Iterator[str]:
    """A moto server on 127.0.0.1 for the length of the block; yields its endpoint."""
    try:
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


def _s3(endpoint: str, region: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError:
        s3.create_bucket(Bucket=bucket)


def invoke_local(
    layer: Path,
    event: Mapping[str, Any],
    spec: SandboxSpec,
    *,
    endpoint_url: str | None = None,
    bucket: str = "layerforge-local",
    prefix: str = "automated-analysis",
    region: str = "us-east-1",
    engine: str = "auto",
    sink: EventSink,
) -> ProofReport:
    """Run the payload handler with ``layer`` in the sandbox and prove what it did."""
    server: AbstractContextManager[str] = (
        nullcontext(endpoint_url) if endpoint_url else embedded_s3()
    )
    with server as url:
        s3 = _s3(url, region)
        try:
            _ensure_bucket(s3, bucket)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise LayerforgeError(f"cannot use bucket {bucket} at {url}: {exc}") from None
        environment = {
            **spec.environment,
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "ARTIFACT_BUCKET": bucket,
            "ARTIFACT_PREFIX": prefix,
        }
        local = replace(spec, network="host", environment=environment)
        with tempfile.TemporaryDirectory(prefix="layerforge-task-") as scratch:
            code = stage_function(Path(scratch))
            with open_sandbox(layer, local, code=code, engine=engine, sink=sink) as sandbox:
                engine_used = sandbox.engine
                sink(Event(EventKind.NOTE, "invoke", f"invoking {HANDLER} in the sandbox"))
                invocation = sandbox.invoke(HANDLER, event)
        outcome = Outcome(
            200, None if invocation.succeeded else "Unhandled", invocation.result, invocation.logs
        )
        report = check_all(outcome, s3, prefix)
    report.details = {
        "endpoint": url,
        "bucket": bucket,
        "layer": str(layer),
        "engine": engine_used,
        "runtime": spec.runtime.name,
        "architecture": spec.architecture.value,
    }
    return report
