"""``layerforge publish-and-invoke`` and ``layerforge cleanup``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from layerforge.aws_names import normalise_prefix
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
    ARCH,
    PATH,
    REGION,
    RUNTIME,
    URL,
    apply,
    arch_option,
    debug_option,
    ephemeral_option,
    json_option,
    memory_option,
    profile_option,
    runtime_option,
)
from layerforge.errors import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_OPERATION_FAILED,
    ExecutionInterrupted,
    UsageError,
)
from layerforge.functions import parse_event
from layerforge.runtimes import Architecture, Runtime

if TYPE_CHECKING:
    from layerforge.aws.clients import AwsClients
    from layerforge.aws.preflight import ProofRun

__all__ = ["cleanup_command", "publish_and_invoke", "publish_command"]

F = TypeVar("F", bound=Callable[..., Any])

_endpoint = click.option(
    "--endpoint-url", type=URL, help="Endpoint for every AWS service (e.g. a moto server)."
)
_aws = apply(
    click.option("--region", type=REGION, help="AWS region (default: your AWS configuration)."),
    profile_option,
    _endpoint,
)


def _regions(purpose: str) -> Callable[[F], F]:
    """Repeatable --region (a tuple ``regions``), with what it means for the command."""
    return apply(
        click.option("--region", "regions", type=REGION, multiple=True, help=purpose),
        profile_option,
        _endpoint,
    )


def connect(region: str | None, profile: str | None, endpoint_url: str | None) -> AwsClients:
    """boto3 loads only for the commands that talk to AWS (it costs a third of a second)."""
    # boto3 (190 ms) loads when the command runs, not for --help
    from layerforge.aws.clients import AwsTarget, connect_aws

    return connect_aws(AwsTarget(region, profile, endpoint_url))


def _env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {pair!r} is not NAME=VALUE", hint="e.g. --env LEVEL=debug")
        found[name] = value
    return found


def _layer_file(layer: Path) -> Path:
    if not layer.is_file():
        raise UsageError(f"layer {layer} is not a file", hint="give the zip layerforge build wrote")
    return layer


@cli.command("publish-and-invoke")
@click.option("--layer", type=PATH, required=True, help="The layer zip (from layerforge build).")
@click.option("--bucket", required=True, help="S3 bucket for artifacts (and S3 staging).")
@click.option("--prefix", default="automated-analysis", show_default=True, help="Key prefix.")
@click.option("--function-name", default="layerforge-analytics", show_default=True)
@click.option("--layer-name", default="layerforge-analytics", show_default=True)
@click.option("--role-arn", help="Use this existing execution role.")
@click.option("--create-role", is_flag=True, help="Create (or reuse) a least-privilege role.")
@click.option("--role-name", help="Name for --create-role (default: <function-name>-role).")
@runtime_option
@arch_option
@memory_option
@click.option("--timeout", type=click.IntRange(1, 900), default=300, show_default=True)
@ephemeral_option
@click.option("--event", help='JSON event, or @file.json (default: {"rows": 10000}).')
@click.option("--env", "env", multiple=True, help="Extra function variable NAME=VALUE.")
@function_options
@fanout_options
@click.option(
    "--states-role-arn",
    help="Fan-out: the state machine's existing role (default with --create-role: made for it).",
)
@click.option(
    "--stop-on-interrupt",
    is_flag=True,
    help="Fan-out: on Ctrl-C, SIGTERM or SIGHUP stop the execution on AWS too (default: it "
    "keeps running; asked at a terminal).",
)
@click.option(
    "--dry-run", is_flag=True, help="Run the pre-flight and print the plan; change nothing."
)
@click.option(
    "--prove-again",
    is_flag=True,
    help="Invoke and check even where these exact inputs were already proven.",
)
@_regions("AWS region (repeatable: the proof in each; --bucket may hold {region}).")
@json_option
@debug_option
def publish_and_invoke(*, layer: Path, json_output: bool, dry_run: bool, **options: Any) -> int:
    """Publish LAYER, deploy a function with it, invoke it and check the proof.

    The function is analytics_payload unless --function-dir/--function-zip name your own; the
    proof spec says what success means. With --shards N (or --input s3://BUCKET/PREFIX/) a
    Step Functions Distributed Map runs the function once per shard, then merges. Where the
    same inputs were already proven, a rerun reports that proof and changes nothing. Exit 0
    when every check passes, 1 when any fails.
    """
    # boto3 (190 ms) loads when the command runs, not for --help
    from layerforge.aws.preflight import ProofRun
    from layerforge.aws.run import dry_run_plan
    from layerforge.aws.run import publish_and_invoke as run_proof

    render = renderer(json_output)
    runtime, arch = layer_target([_layer_file(layer)], options["runtime"], options["arch"])
    function, proof = function_and_proof(
        function_dir=options["function_dir"],
        function_zip=options["function_zip"],
        handler=options["handler"],
        proof_file=options["proof_file"],
        config=options["config"],
    )
    event = parse_event(options["event"], None if function.bundled else {})
    fanout, proof = fanout_and_proof(
        event,
        function,
        proof,
        shards=options["shards"],
        input_url=options["input_url"],
        max_concurrency=options["max_concurrency"],
        run_id=options["run_id"],
        proof_given=options["proof_file"] is not None,
    )
    template = ProofRun(
        layer=layer,
        bucket=options["bucket"],
        runtime=runtime,
        architecture=arch,
        function=function,
        proof=proof,
        function_name=options["function_name"],
        layer_name=options["layer_name"],
        prefix=normalise_prefix(options["prefix"]),
        role_arn=options["role_arn"],
        create_role=options["create_role"],
        role_name=options["role_name"],
        memory_mb=options["memory"],
        timeout_s=options["timeout"],
        ephemeral_mb=options["ephemeral_storage"],
        event=event,
        environment=_env_pairs(options["env"]),
        fanout=fanout,
        states_role_arn=options["states_role_arn"],
        prove_again=options["prove_again"],
    )
    regions = tuple(dict.fromkeys(options["regions"])) or (None,)
    if len(regions) > 1:
        return _in_regions(template, regions, options, dry_run=dry_run, json_output=json_output)
    run = replace(template, bucket=_regional(template.bucket, regions[0]))
    clients = connect(regions[0], options["profile"], options["endpoint_url"])
    if dry_run:
        render.document(dry_run_plan(run, clients), "Plan (pre-flight passed; nothing changed)")
        return EXIT_OK
    try:
        report = run_proof(run, clients, on_event=render.note)
    except ExecutionInterrupted as interrupted:
        stop = options["stop_on_interrupt"]
        raise _settle(interrupted, clients, stop=stop, ask=not json_output) from None
    render.proof_report(report, f"Proof for {run.function_name} on {runtime.name}/{arch.value}")
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _settle(
    interrupted: ExecutionInterrupted, clients: AwsClients, *, stop: bool, ask: bool
) -> ExecutionInterrupted:
    """An interrupted fan-out wait: stop the execution on AWS when --stop-on-interrupt says so
    or, at a terminal after Ctrl-C, when the user says yes; otherwise it keeps running."""
    from layerforge.aws.distributed_map import stop_execution

    if not stop and ask and interrupted.signum == signal.SIGINT and sys.stdin.isatty():
        try:
            stop = click.confirm(f"{interrupted.message}: stop it?", default=False, err=True)
        except (click.exceptions.Abort, OSError):  # a second Ctrl-C, or no answer: leave it
            stop = False
    return stop_execution(clients, interrupted) if stop else interrupted


def _regional(bucket: str, region: str | None) -> str:
    if "{region}" not in bucket:
        return bucket
    if region is None:
        raise UsageError(
            f"--bucket {bucket!r} has {{region}} but no --region was given",
            hint="give --region, or a plain bucket name",
        )
    return bucket.replace("{region}", region)


def _region_run(template: ProofRun, region: str) -> ProofRun:
    """The run in ``region``: its bucket, and (IAM being global, the policy naming this
    region's bucket) its own role when layerforge makes one: ``<role>-<region>``."""
    from layerforge.aws.role import regional_role_name

    run = replace(template, bucket=_regional(template.bucket, region))
    if not template.create_role:
        return run
    return replace(run, role_name=regional_role_name(template.effective_role_name, region))


def _in_regions(
    template: ProofRun,
    regions: tuple[str | None, ...],
    options: dict[str, Any],
    *,
    dry_run: bool,
    json_output: bool,
) -> int:
    """The proof in every region: each region's own bucket (``{region}`` in --bucket), every
    pre-flight before any change, then the regions concurrently."""
    # boto3 (190 ms) loads when the command runs, not for --help
    from layerforge.aws.clients import AwsTarget, connect_aws
    from layerforge.aws.run import dry_run_plan, prove_everywhere

    render = renderer(json_output)
    if template.fanout is not None:
        raise UsageError(
            "a fan-out runs in one region at a time",
            hint="give one --region with --shards/--input (and rerun per region)",
        )
    named = [r for r in regions if r is not None]
    runs = {r: _region_run(template, r) for r in named}

    def clients_for(region: str) -> AwsClients:
        return connect_aws(AwsTarget(region, options["profile"], options["endpoint_url"]))

    if dry_run:
        plans = {r: dry_run_plan(run, clients_for(r)) for r, run in runs.items()}
        render.document({"regions": plans}, "Plan per region (pre-flight passed; nothing changed)")
        return EXIT_OK
    outcome = prove_everywhere(runs, clients_for, on_event=render.note)
    if not json_output:
        for region, report in sorted(outcome.reports.items()):
            render.proof_report(report, f"Proof for {template.function_name} in {region}")
    if outcome.failed:  # one error (every region's result in its details)
        raise outcome.failure()
    if json_output:
        render.json(outcome.to_dict())
    return outcome.exit_code()


@cli.command("cleanup")
@click.option("--layer-name", default="layerforge-analytics", show_default=True)
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Newest layer versions to keep.",
)
@click.option(
    "--function-name",
    help="Also delete this function, its fan-out state machine and the roles layerforge made "
    "for them (a role other functions still use loses only this function's policy).",
)
@click.option(
    "--role-name", help="Also delete this role, if layerforge made it and nothing else uses it."
)
@click.option("--staging-bucket", help="Also remove staging objects a killed publish left here.")
@click.option("--force", is_flag=True, help="Delete layer versions even if functions use them.")
@click.option(
    "--dry-run", is_flag=True, help="Say exactly what the real run would delete; delete nothing."
)
@_aws
@json_option
@debug_option
def cleanup_command(
    *,
    json_output: bool,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    **options: Any,
) -> int:
    """Delete old layer versions (never one in use) and, optionally, the function and roles.

    Only what layerforge made is ever deleted: anything without its marker is kept and named.
    """
    from layerforge.aws.cleanup import CleanupRequest, cleanup

    render = renderer(json_output)
    request = CleanupRequest(**options)
    result = cleanup(connect(region, profile, endpoint_url), request)
    title = "Cleanup (dry run: nothing deleted)" if request.dry_run else "Cleanup"
    render.document(result.to_dict(), title)
    if result.failures:
        render.error_line(
            f"{len(result.failures)} deletions failed: " + "; ".join(result.failures),
            hint="run cleanup again: what was deleted stays deleted, the rest is retried",
        )
        return EXIT_OPERATION_FAILED
    return EXIT_OK


def _publish_targets(
    layer: Path, runtimes: tuple[Runtime, ...], archs: tuple[Architecture, ...]
) -> tuple[tuple[Runtime, ...], tuple[Architecture, ...]]:
    runtime, arch = layer_target([layer], next(iter(runtimes), None), next(iter(archs), None))
    return runtimes or (runtime,), archs or (arch,)


@cli.command("publish")
@click.argument("layer", type=PATH)
@click.option("--layer-name", required=True, help="Name of the layer (1-140 of a-z A-Z 0-9 - _).")
@_regions("Region to publish in (repeatable; default: your AWS configuration).")
@click.option(
    "--staging-bucket",
    "staging",
    multiple=True,
    help="For zips over 50 MiB: REGION=BUCKET (repeatable), or a name with {region}.",
)
@click.option(
    "--runtime",
    "runtimes",
    type=RUNTIME,
    multiple=True,
    help="Compatible runtime (repeatable; default: the layer's manifest).",
)
@click.option(
    "--arch",
    "archs",
    type=ARCH,
    multiple=True,
    help="Compatible architecture (repeatable; default: the layer's manifest).",
)
@click.option("--license-info", help="License of the layer's contents (SPDX id or URL).")
@click.option("--public", is_flag=True, help="Let every AWS account use the layer version.")
@click.option(
    "--principal",
    "principals",
    multiple=True,
    help="Let this AWS account id use the layer version (repeatable).",
)
@json_option
@debug_option
def publish_command(
    *,
    layer: Path,
    layer_name: str,
    regions: tuple[str, ...],
    staging: tuple[str, ...],
    runtimes: tuple[Runtime, ...],
    archs: tuple[Architecture, ...],
    license_info: str | None,
    public: bool,
    principals: tuple[str, ...],
    profile: str | None,
    endpoint_url: str | None,
    json_output: bool,
) -> int:
    """Publish LAYER as a layer version (in every --region), for SAM, CDK or Terraform.

    The same zip is reused where a version with its sha256 exists. Prints the version ARNs.
    Exit 0 when every region has it, 3 when a region failed (the others are kept).
    """
    # boto3 (190 ms) loads when the command runs, not for --help
    from layerforge.aws.clients import AwsTarget, connect_aws
    from layerforge.aws.regions import LayerPublish, publish_everywhere, staging_buckets

    render = renderer(json_output)
    _layer_file(layer)
    if not regions:
        regions = (connect(None, profile, endpoint_url).region,)
    for principal in principals:
        if not (principal.isdigit() and len(principal) == 12):
            raise UsageError(
                f"--principal {principal!r} is not a 12-digit AWS account id",
                hint="use --public to share with every account",
            )
    chosen_runtimes, chosen_archs = _publish_targets(layer, runtimes, archs)
    request = LayerPublish(
        layer=layer,
        layer_name=layer_name,
        regions=tuple(dict.fromkeys(regions)),
        runtimes=chosen_runtimes,
        architectures=chosen_archs,
        staging=staging_buckets(staging, regions),
        license_info=license_info,
        principals=(("*",) if public else ()) + principals,
    )

    def clients_for(region: str) -> AwsClients:
        return connect_aws(AwsTarget(region, profile, endpoint_url))

    outcome = publish_everywhere(request, clients_for)
    render.publish_result(outcome)
    if outcome.failed:  # one error (every region's result in its details)
        raise outcome.failure()
    return EXIT_OK
