"""``layerforge verify-abi``."""

from __future__ import annotations

from pathlib import Path

import click

from layerforge.builder.output.manifest import layer_target
from layerforge.cli.app import cli
from layerforge.cli.context import renderer
from layerforge.cli.options import (
    PATH,
    SIZE,
    arch_option,
    debug_option,
    json_option,
    runtime_option,
)
from layerforge.errors import EXIT_CHECK_FAILED, EXIT_OK
from layerforge.runtimes import Architecture, Runtime
from layerforge.verify import verify_layer

__all__ = ["verify_abi"]


@cli.command("verify-abi")
@click.argument("targets", nargs=-1, required=True, type=PATH)
@runtime_option
@arch_option
@click.option(
    "--function-size",
    type=SIZE,
    metavar="SIZE",
    help="Unzipped size of the function code, deducted from the 250 MiB budget.",
)
@json_option
@debug_option
def verify_abi(
    *,
    targets: tuple[Path, ...],
    runtime: Runtime | None,
    arch: Architecture | None,
    function_size: int | None,
    json_output: bool,
) -> int:
    """Prove statically that a layer zip, folder or wheels will load on a runtime.

    The runtime and architecture are the flags', else the layer's manifest's (if it describes
    that zip), else python3.11/x86_64. Exit 0 when it will load, 1 when any error-level
    finding exists, 2 for usage errors.
    """
    render = renderer(json_output)
    runtime, arch = layer_target(targets, runtime, arch)
    with render.progress() as sink:
        report = verify_layer(
            list(targets), runtime, arch, function_size=function_size or 0, on_event=sink
        )
    render.verify_report(report)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED
