"""``layerforge build``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from layerforge.builder import build_layer
from layerforge.builder.request import specs_from_settings
from layerforge.cli.app import cli
from layerforge.cli.context import renderer
from layerforge.cli.options import (
    ARCH,
    PATH,
    RUNTIME,
    SIZE,
    URL,
    apply,
    debug_option,
    json_option,
    sandbox_option,
)
from layerforge.errors import EXIT_CHECK_FAILED, EXIT_OK
from layerforge.settings import read_settings

__all__ = ["build"]

_inputs = apply(
    click.argument("requirements", nargs=-1),
    click.option(
        "-r",
        "--requirement",
        "requirements_file",
        multiple=True,
        type=PATH,
        help="Requirements file, pyproject.toml or pylock.toml (repeatable). "
        "Default: analytics_payload's pins.",
    ),
    click.option(
        "-c",
        "--constraint",
        "constraints_file",
        multiple=True,
        type=PATH,
        help="Constraints file (repeatable).",
    ),
    click.option(
        "--extra",
        "extras",
        multiple=True,
        help="Optional-dependency group of a pyproject.toml input (repeatable).",
    ),
    click.option(
        "--find-links",
        multiple=True,
        help="Folder or URL with wheels, e.g. private ones (repeatable).",
    ),
    click.option("--index-url", type=URL, help="Package index (default: pip's / PyPI)."),
    click.option(
        "--extra-index-url",
        "extra_index_urls",
        type=URL,
        multiple=True,
        help="Extra index (repeatable).",
    ),
)
_target = apply(
    click.option(
        "--runtime",
        type=RUNTIME,
        multiple=True,
        help="Lambda runtime (repeatable: a matrix; default python3.11).",
    ),
    click.option(
        "--arch",
        type=ARCH,
        multiple=True,
        help="x86_64 or arm64 (aarch64 too; repeatable: a matrix; default x86_64).",
    ),
    click.option(
        "--backend",
        type=click.Choice(["auto", "cross", "docker"]),
        help="auto (default), cross (no Docker) or docker.",
    ),
    click.option(
        "--installer",
        type=click.Choice(["auto", "pip", "uv"]),
        help="auto (default: uv where it is exact; elsewhere, and always in docker, pip "
        "resolves and uv installs pip's wheels; pip alone without uv), pip or uv.",
    ),
    click.option("--image", help="docker backend: image to build in (default: the runtime's)."),
    click.option(
        "--network", help="docker backend: container network (default: host if no bridge)."
    ),
)
_result = apply(
    click.option(
        "-o",
        "--output",
        type=click.Path(),
        help="Zip to write, a folder, or a template with {runtime} and {arch}.",
    ),
    click.option(
        "--max-unzipped",
        type=SIZE,
        help="Fail if the layer unzips to more than this (bytes, or 250MiB, 200MB).",
    ),
    click.option("--strip/--no-strip", default=None, help="strip --strip-unneeded ELF files."),
    click.option("--bytecode/--no-bytecode", default=None, help="Ship unchecked-hash .pyc files."),
    click.option(
        "--python",
        type=PATH,
        help="Interpreter of the target version for bytecode (found otherwise).",
    ),
    click.option("--cache/--no-cache", default=None, help="Reuse a build with identical inputs."),
    click.option("--smoke", is_flag=True, help="Then import every module in the sandbox."),
)


@cli.command()
@_inputs
@_target
@_result
@sandbox_option
@click.option(
    "--config",
    type=PATH,
    default=Path("pyproject.toml"),
    show_default=True,
    help="pyproject.toml whose [tool.layerforge] supplies defaults; flags win.",
)
@json_option
@debug_option
def build(config: Path, json_output: bool, smoke: bool, sandbox: str, **flags: Any) -> int:
    """Build a binary-only Lambda layer zip (python/) for a runtime and architecture."""
    render = renderer(json_output)
    explicit = click.get_current_context().get_parameter_source("config")
    settings = read_settings(config, explicit=explicit is not click.core.ParameterSource.DEFAULT)
    specs = specs_from_settings(flags, settings)
    if len(specs) > 1:
        from layerforge.builder.matrix import build_matrix  # a matrix only (6 ms)

        with render.progress() as sink:
            outcome = build_matrix(specs, on_event=sink)
        render.matrix_result(outcome)
        return int(outcome.exit_code)
    spec = specs[0]
    with render.progress() as sink:
        result = build_layer(spec, on_event=sink)
    report = None
    if smoke:
        from layerforge.sandbox import SandboxSpec, smoke_test  # --smoke only (11 ms)

        sandbox_spec = SandboxSpec(
            runtime=spec.runtime, architecture=spec.architecture, image=spec.image
        )
        with render.progress() as sink:
            report = smoke_test(spec.output, sandbox_spec, engine=sandbox, sink=sink)
    render.build_result(result, smoke=report)
    return EXIT_CHECK_FAILED if report is not None and not report.passed else EXIT_OK
