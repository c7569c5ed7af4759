"""``layerforge smoke`` and ``layerforge invoke-local``: the Lambda-like sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layerforge.aws_names import check_bucket, normalise_prefix
from layerforge.builder.output.manifest import layer_target
from layerforge.cli.app import cli
from layerforge.cli.context import renderer
from layerforge.cli.function_options import (
    fanout_and_proof,
    fanout_options,
    function_and_proof,
    function_options,
)
from layerforge.cli.options import (
    PATH,
    URL,
    apply,
    arch_option,
    debug_option,
    ephemeral_option,
    image_option,
    json_option,
    memory_option,
    runtime_option,
    sandbox_option,
)
from layerforge.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from layerforge.fanout import default_run_id
from layerforge.functions import parse_event
from layerforge.runtimes import Architecture, Runtime
from layerforge.sandbox import SandboxSpec, smoke_test

__all__ = ["invoke_local", "smoke"]

_sandbox = apply(
    runtime_option,
    arch_option,
    image_option,
    memory_option,
    ephemeral_option,
    sandbox_option,
    click.option(
        "--rootfs",
        type=PATH,
        help="bwrap: a root filesystem of the layer's architecture (arm64 on x86_64, "
        "under qemu); default LAYERFORGE_ROOTFS_ARM64.",
    ),
)


def _spec(
    layer: Path,
    *,
    runtime: Runtime | None,
    arch: Architecture | None,
    image: str | None,
    memory: int,
    ephemeral_storage: int,
    rootfs: Path | None,
    import_timeout_s: float = 60.0,
) -> SandboxSpec:
    """The sandbox the shared options describe, for the layer's runtime and architecture."""
    target_runtime, target_arch = layer_target([layer], runtime, arch)
    return SandboxSpec(
        runtime=target_runtime,
        architecture=target_arch,
        image=image,
        memory_mb=memory,
        ephemeral_mb=ephemeral_storage,
        rootfs=rootfs,
        import_timeout_s=import_timeout_s,
    )


@cli.command()
@click.argument("layer", type=PATH)
@_sandbox
@click.option(
    "--timeout",
    type=click.FloatRange(1, 900),
    default=60,
    show_default=True,
    help="Seconds each module may take to import; a module that hangs fails by name.",
)
@json_option
@debug_option
def smoke(
    *,
    layer: Path,
    runtime: Runtime | None,
    arch: Architecture | None,
    image: str | None,
    memory: int,
    ephemeral_storage: int,
    sandbox: str,
    rootfs: Path | None,
    timeout: float,
    json_output: bool,
) -> int:
    """Import every module of LAYER cold in a Lambda-like sandbox (read-only, no network).

    Exit 0 when every module imports, 1 when any fails, 3 when the sandbox cannot start.
    """
    render = renderer(json_output)
    spec = _spec(
        layer,
        runtime=runtime,
        arch=arch,
        image=image,
        memory=memory,
        ephemeral_storage=ephemeral_storage,
        rootfs=rootfs,
        import_timeout_s=timeout,
    )
    with render.progress() as sink:
        report = smoke_test(layer, spec, engine=sandbox, sink=sink)
    render.smoke_report(report)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


@cli.command("invoke-local")
@click.option("--layer", type=PATH, required=True, help="The layer zip.")
@click.option("--event", help='JSON event, or @file.json (default: {"rows": 10000}).')
@click.option("--endpoint-url", type=URL, help="S3 endpoint (default: an embedded moto server).")
@click.option("--bucket", default="layerforge-local", show_default=True)
@click.option("--prefix", default="automated-analysis", show_default=True)
@function_options
@fanout_options
@_sandbox
@click.option("--dry-run", is_flag=True, help="Check everything and print the plan; start nothing.")
@json_option
@debug_option
def invoke_local(
    *,
    layer: Path,
    event: str | None,
    endpoint_url: str | None,
    bucket: str,
    prefix: str,
    runtime: Runtime | None,
    arch: Architecture | None,
    image: str | None,
    memory: int,
    ephemeral_storage: int,
    sandbox: str,
    rootfs: Path | None,
    json_output: bool,
    dry_run: bool,
    shards: int | None,
    input_url: str | None,
    max_concurrency: int,
    run_id: str | None,
    **function: Any,
) -> int:
    """Run a function (analytics_payload, or --function-dir) with LAYER in the sandbox and apply
    its proof spec's checks, with S3 from an embedded moto server.

    With --shards N (or --input: a folder of CSV files, or s3:// with --endpoint-url) the shards
    run in parallel sandboxes, then the reduce merges them, as on Step Functions. Needs no AWS
    account. Exit 0 when every check passes, 1 when any fails.
    """
    # invoke-local's side (S3 through boto3, the proof checks: 50 ms) is not smoke's
    from layerforge.sandbox.local_invoke import invoke_local as run_local
    from layerforge.sandbox.local_run import LocalRun, local_plan

    render = renderer(json_output)
    spec = _spec(
        layer,
        runtime=runtime,
        arch=arch,
        image=image,
        memory=memory,
        ephemeral_storage=ephemeral_storage,
        rootfs=rootfs,
    )
    source, proof = function_and_proof(**function)
    parsed = parse_event(event, None if source.bundled else {})
    bucket, prefix = check_bucket(bucket), normalise_prefix(prefix)
    input_dir = None
    if input_url is not None and not input_url.startswith("s3://"):
        input_dir = Path(input_url)
        if not input_dir.is_dir():
            raise UsageError(
                f"--input {input_url}: not a folder nor an s3:// prefix",
                hint="give a folder of CSV files, or s3://BUCKET/PREFIX/ with --endpoint-url",
            )
        run_id = run_id or default_run_id()
        input_url = f"s3://{bucket}/{prefix}/{run_id}/inputs/"
    fanout, proof = fanout_and_proof(
        parsed,
        source,
        proof,
        shards=shards,
        input_url=input_url,
        max_concurrency=max_concurrency,
        run_id=run_id,
        proof_given=function["proof_file"] is not None,
    )
    run = LocalRun(
        layer=layer,
        function=source,
        proof=proof,
        event=parsed,
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        engine=sandbox,
        fanout=fanout,
        input_dir=input_dir,
    )
    plan = local_plan(run, spec)  # the uploads and scopes are checked before anything starts
    if dry_run:
        render.document(plan, "Plan (checked; nothing started)")
        return EXIT_OK
    report = run_local(run, spec, sink=render.note)
    render.proof_report(report, f"Local proof on {spec.runtime.name}/{spec.architecture.value}")
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED
