"""The ``layerforge`` group and ``main(argv)``: the single entry point and error boundary."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from typing import ClassVar

import click

from layerforge import __version__, interrupts
from layerforge.cli.boundary import report_exception, wants_debug
from layerforge.console import Renderer
from layerforge.interrupts import signals_raise

__all__ = ["cli", "main"]


class LazyGroup(click.Group):
    """Commands load with their module when named: ``layerforge build`` never imports boto3,
    the sandbox or the AWS commands (start-up time is part of every warm build)."""

    homes: ClassVar[dict[str, str]] = {
        "build": "build",
        "verify-abi": "verify",
        "smoke": "sandbox",
        "invoke-local": "sandbox",
        "publish-and-invoke": "aws",
        "publish": "aws",
        "cleanup": "aws",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.homes))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.homes:
            import_module(f"layerforge.cli.commands.{self.homes[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="layerforge")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    help="Show the full traceback of an unexpected error (or LAYERFORGE_DEBUG=1).",
)
def cli() -> None:
    """Build, verify and prove AWS Lambda layers for scientific Python.

    Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 an operation failed, 4 a bug in
    layerforge, 128+N interrupted by signal N.
    """


def _json_requested(argv: list[str]) -> bool:
    """``--json`` anywhere before a ``--``: even a usage error is then a JSON document."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (tests call this directly).

    As the process's entry point (``argv`` None), an interrupted command ends within the
    contract's bound, whatever a thread is still stuck in (``interrupts.finish_process``)."""
    code = _run(list(sys.argv[1:] if argv is None else argv), ending_process=argv is None)
    if argv is None and interrupts.cancelled():
        return interrupts.finish_process(code)
    return code


def _run(args: list[str], *, ending_process: bool) -> int:
    renderer = Renderer(json_output=_json_requested(args))
    try:
        with signals_raise(ending_process=ending_process):
            try:
                result = cli.main(
                    args=args, prog_name="layerforge", standalone_mode=False, obj=renderer
                )
            except BaseException as error:  # the boundary: every way out is reported
                if isinstance(error, SystemExit):
                    return error.code if isinstance(error.code, int) else 1
                command = next((a for a in args if not a.startswith("-")), "")
                return report_exception(error, renderer, debug=wants_debug(args), command=command)
    except KeyboardInterrupt as late:  # a signal after the command's own signal handling
        return getattr(late, "exit_code", 130)
    return result if isinstance(result, int) else 0
