"""The ``layerforge`` command: parse, call one core function, render. Nothing else lives here."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from layerforge import __version__
from layerforge.builder import build_layer
from layerforge.console import Renderer
from layerforge.errors import LayerforgeError
from layerforge.runtimes import Architecture, get_runtime, runtimes
from layerforge.sandbox import SandboxSpec, smoke_test
from layerforge.spec import (
    DEFAULT_ARCH,
    DEFAULT_RUNTIME,
    Backend,
    load_pyproject_settings,
    spec_from_settings,
)
from layerforge.verify import verify_layer

if TYPE_CHECKING:
    from layerforge.aws.clients import AwsClients, AwsTarget

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """``262144000``, ``250MiB`` or ``200MB`` as bytes."""
    if value is None:
        return None
    match = _SIZE.match(value)
    if not match:
        raise click.BadParameter(f"{value!r} is not a size such as 262144000, 250MiB or 200MB")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()])


# Options declared once, shared by every command that takes them.
runtime_option = click.option(
    "--runtime",
    type=click.Choice([r.name for r in runtimes()]),
    help="Lambda runtime (default python3.11).",
)
arch_option = click.option(
    "--arch",
    "arch",
    type=click.Choice([a.value for a in Architecture]),
    help="Lambda architecture (default x86_64).",
)
image_option = click.option(
    "--image", help="Runtime image for the sandbox (default: the runtime's base image)."
)
memory_option = click.option(
    "--memory",
    type=click.IntRange(128, 10240),
    default=1024,
    show_default=True,
    help="Function memory in MB (the sandbox's memory limit).",
)
ephemeral_option = click.option(
    "--ephemeral-storage",
    type=click.IntRange(512, 10240),
    default=512,
    show_default=True,
    help="Size of /tmp in MB.",
)
sandbox_option = click.option(
    "--sandbox",
    type=click.Choice(["auto", "docker", "bwrap"]),
    default="auto",
    show_default=True,
    help="Sandbox engine: the runtime image in Docker, or bubblewrap on the host.",
)
json_option = click.option(
    "--json", "json_output", is_flag=True, help="Print one JSON document instead of tables."
)


@contextmanager
def _reported(renderer: Renderer) -> Iterator[None]:
    """Turn every known error into an ERROR line, a hint and its exit code."""
    try:
        yield
    except LayerforgeError as error:
        renderer.error(error)
        raise SystemExit(error.exit_code) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerforge")
def cli() -> None:
    """Build, verify and prove AWS Lambda layers for scientific Python.

    Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 an operation failed.
    """


@cli.command()
@click.argument("requirements", nargs=-1)
@click.option(
    "-r",
    "--requirement",
    "requirements_file",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Requirements file (repeatable). Default: analytics_payload's pins.",
)
@runtime_option
@arch_option
@click.option(
    "--backend",
    type=click.Choice([b.value for b in Backend]),
    help="auto (default), cross (no Docker) or docker.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Where to write the zip.")
@click.option("--image", help="docker backend: image to build in (default: the runtime's).")
@click.option(
    "--network", help="docker backend: container network (default: Docker's; host if no bridge)."
)
@click.option(
    "--max-unzipped",
    callback=parse_size,
    metavar="SIZE",
    help="Fail if the layer unzips to more than this (bytes, or 250MiB, 200MB).",
)
@click.option("--strip/--no-strip", default=None, help="strip --strip-unneeded ELF files.")
@click.option("--bytecode/--no-bytecode", default=None, help="Ship unchecked-hash .pyc files.")
@click.option(
    "--python",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Interpreter of the target version for bytecode (found automatically otherwise).",
)
@click.option("--index-url", help="Package index (default: pip's / PyPI).")
@click.option(
    "--extra-index-url", "extra_index_urls", multiple=True, help="Extra index (repeatable)."
)
@click.option("--cache/--no-cache", default=None, help="Reuse a build with identical inputs.")
@click.option("--smoke", is_flag=True, help="Then import every module in the sandbox (as smoke).")
@sandbox_option
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("pyproject.toml"),
    show_default=True,
    help="pyproject.toml whose [tool.layerforge] supplies defaults; flags win.",
)
@json_option
def build(config: Path, json_output: bool, smoke: bool, sandbox: str, **flags: Any) -> None:
    """Build a binary-only Lambda layer zip (python/) for a runtime and architecture."""
    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        spec = spec_from_settings(
            flags, load_pyproject_settings(config), config_dir=config.resolve().parent
        )
        if json_output:
            result = build_layer(spec)
        else:
            with renderer.progress() as sink:
                result = build_layer(spec, on_event=sink)
        report = None
        if smoke:
            sandbox_spec = SandboxSpec(
                runtime=spec.runtime, architecture=spec.architecture, image=spec.image
            )
            with renderer.progress() as sink:
                report = smoke_test(spec.output, sandbox_spec, engine=sandbox, sink=sink)
        renderer.build_result(result, smoke=report)
    if report is not None and not report.passed:
        raise SystemExit(1)


@cli.command("verify-abi")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@runtime_option
@arch_option
@click.option(
    "--function-size",
    callback=parse_size,
    default=None,
    metavar="SIZE",
    help="Unzipped size of the function code, deducted from the 250 MiB budget.",
)
@json_option
def verify_abi(
    *,
    targets: tuple[Path, ...],
    runtime: str | None,
    arch: str | None,
    function_size: int | None,
    json_output: bool,
) -> None:
    """Prove statically that a layer zip, folder or wheels will load on a runtime.

    Exit 0 when it will load, 1 when any error-level finding exists, 2 for usage errors.
    """
    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        report = verify_layer(
            list(targets),
            get_runtime(runtime or DEFAULT_RUNTIME),
            Architecture.parse(arch or DEFAULT_ARCH),
            function_size=function_size or 0,
        )
        renderer.verify_report(report)
    if not report.passed:
        raise SystemExit(1)


@cli.command()
@click.argument("layer", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@runtime_option
@arch_option
@image_option
@memory_option
@ephemeral_option
@sandbox_option
@json_option
def smoke(
    *,
    layer: Path,
    runtime: str | None,
    arch: str | None,
    image: str | None,
    memory: int,
    ephemeral_storage: int,
    sandbox: str,
    json_output: bool,
) -> None:
    """Import every module of LAYER cold in a Lambda-like sandbox (read-only, no network).

    Exit 0 when every module imports, 1 when any fails.
    """
    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        spec = SandboxSpec(
            runtime=get_runtime(runtime or DEFAULT_RUNTIME),
            architecture=Architecture.parse(arch or DEFAULT_ARCH),
            image=image,
            memory_mb=memory,
            ephemeral_mb=ephemeral_storage,
        )
        if json_output:
            report = smoke_test(layer, spec, engine=sandbox, sink=lambda _e: None)
        else:
            with renderer.progress() as sink:
                report = smoke_test(layer, spec, engine=sandbox, sink=sink)
        renderer.smoke_report(report)
    if not report.passed:
        raise SystemExit(1)


def connect_aws(target: AwsTarget) -> AwsClients:
    """boto3 loads only for the commands that talk to AWS (it costs a third of a second)."""
    from layerforge.aws.clients import connect_aws as connect

    return connect(target)


def _aws_target(region: str | None, profile: str | None, endpoint_url: str | None) -> AwsTarget:
    from layerforge.aws.clients import AwsTarget

    return AwsTarget(region, profile, endpoint_url)


def _env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        found[name] = value
    return found


def _layer_target(layer: Path, runtime: str | None, arch: str | None) -> tuple[str, str]:
    """Runtime and architecture: flags, else the layer's manifest, else the defaults."""
    manifest = layer.with_name(f"{layer.stem}.manifest.json")
    recorded: dict[str, Any] = {}
    if manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text("utf-8"))
        except ValueError:
            recorded = {}
    return (
        runtime or recorded.get("runtime") or DEFAULT_RUNTIME,
        arch or recorded.get("architecture") or DEFAULT_ARCH,
    )


aws_options = [
    click.option("--region", help="AWS region (default: your AWS configuration)."),
    click.option("--profile", help="AWS profile."),
    click.option("--endpoint-url", help="Endpoint for every AWS service (e.g. a moto server)."),
]


def with_aws_options(function: F) -> F:
    for option in reversed(aws_options):
        function = option(function)
    return function


@cli.command("publish-and-invoke")
@click.option(
    "--layer",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The layer zip (from layerforge build).",
)
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
@click.option(
    "--function-zip",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Prove another function package instead of analytics_payload.",
)
@click.option("--handler", default=None, help="Handler for --function-zip.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the role policy; change nothing.")
@with_aws_options
@json_option
def publish_and_invoke(*, layer: Path, json_output: bool, dry_run: bool, **options: Any) -> None:
    """Publish LAYER, deploy analytics_payload with it, invoke it and check the proof.

    Exit 0 when every check passes, 1 when any fails.
    """
    from layerforge.aws import ProofRun, dry_run_plan, parse_event
    from layerforge.aws import publish_and_invoke as run_proof

    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        runtime, arch = _layer_target(layer, options["runtime"], options["arch"])
        run = ProofRun(
            layer=layer,
            bucket=options["bucket"],
            runtime=get_runtime(runtime),
            architecture=Architecture.parse(arch),
            function_name=options["function_name"],
            layer_name=options["layer_name"],
            prefix=options["prefix"],
            role_arn=options["role_arn"],
            create_role=options["create_role"],
            role_name=options["role_name"],
            memory_mb=options["memory"],
            timeout_s=options["timeout"],
            ephemeral_mb=options["ephemeral_storage"],
            event=parse_event(options["event"]),
            environment=_env_pairs(options["env"]),
            function_zip=options["function_zip"],
            **({"handler": options["handler"]} if options["handler"] else {}),
        )
        clients = connect_aws(
            _aws_target(options["region"], options["profile"], options["endpoint_url"])
        )
        if dry_run:
            renderer.document(dry_run_plan(run, clients), "Plan (dry run; nothing changed)")
            return
        report = run_proof(run, clients, on_event=None if json_output else renderer.note)
        renderer.proof_report(report, f"Proof for {run.function_name} on {runtime}/{arch}")
    if not report.passed:
        raise SystemExit(1)


@cli.command("cleanup")
@click.option("--layer-name", default="layerforge-analytics", show_default=True)
@click.option(
    "--keep",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Newest layer versions to keep.",
)
@click.option("--function-name", help="Also delete this function.")
@click.option("--role-name", help="Also delete this role (and its inline policies).")
@with_aws_options
@json_option
def cleanup_command(
    *,
    layer_name: str,
    keep: int,
    function_name: str | None,
    role_name: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    json_output: bool,
) -> None:
    """Delete old layer versions and, optionally, the function and role publish made."""
    from layerforge.aws import cleanup

    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        clients = connect_aws(_aws_target(region, profile, endpoint_url))
        result = cleanup(
            clients,
            layer_name=layer_name,
            keep=keep,
            function_name=function_name,
            role_name=role_name,
        )
        renderer.document(result.to_dict(), "Cleanup")


@cli.command("invoke-local")
@click.option(
    "--layer", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True
)
@click.option("--event", help='JSON event, or @file.json (default: {"rows": 10000}).')
@click.option("--endpoint-url", help="S3 endpoint (default: an embedded moto server).")
@click.option("--bucket", default="layerforge-local", show_default=True)
@click.option("--prefix", default="automated-analysis", show_default=True)
@runtime_option
@arch_option
@image_option
@memory_option
@ephemeral_option
@sandbox_option
@json_option
def invoke_local(
    *,
    layer: Path,
    event: str | None,
    endpoint_url: str | None,
    bucket: str,
    prefix: str,
    runtime: str | None,
    arch: str | None,
    image: str | None,
    memory: int,
    ephemeral_storage: int,
    sandbox: str,
    json_output: bool,
) -> None:
    """Run analytics_payload with LAYER in the sandbox and apply publish-and-invoke's checks.

    Needs no AWS account. Exit 0 when every check passes, 1 when any fails.
    """
    from layerforge.aws import parse_event
    from layerforge.sandbox.local_run import invoke_local as run_local

    renderer = Renderer(json_output=json_output)
    with _reported(renderer):
        runtime_name, arch_name = _layer_target(layer, runtime, arch)
        spec = SandboxSpec(
            runtime=get_runtime(runtime_name),
            architecture=Architecture.parse(arch_name),
            image=image,
            memory_mb=memory,
            ephemeral_mb=ephemeral_storage,
        )
        report = run_local(
            layer,
            parse_event(event),
            spec,
            endpoint_url=endpoint_url,
            bucket=bucket,
            prefix=prefix,
            engine=sandbox,
            sink=renderer.note,
        )
        renderer.proof_report(report, f"Local proof on {runtime_name}/{arch_name}")
    if not report.passed:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (tests call this directly)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0
