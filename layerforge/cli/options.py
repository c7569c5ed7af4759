"""Options declared once and shared by every command that takes them (the pip-tools model).

Their types wrap the converters of ``layerforge.settings``, so a flag and the same key in
``[tool.layerforge]`` accept exactly the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from layerforge.runtimes import Architecture, runtimes
from layerforge.settings import (
    SettingValueError,
    to_arch,
    to_region,
    to_runtime,
    to_size,
    to_url,
)

__all__ = [
    "ConvertedType",
    "apply",
    "arch_option",
    "debug_option",
    "ephemeral_option",
    "image_option",
    "json_option",
    "memory_option",
    "runtime_option",
    "sandbox_option",
]

F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:  # click < 8.3: ParamType is not generic at run time
    _ParamType = click.ParamType


class ConvertedType(_ParamType):
    """A Click type that runs one of ``layerforge.settings``' converters."""

    def __init__(self, name: str, convert: Callable[[object], Any], metavar: str) -> None:
        self.name = name
        self._convert = convert
        self._metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self._metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self._convert(value)
        except SettingValueError as exc:
            self.fail(str(exc), param, ctx)


RUNTIME = ConvertedType("runtime", to_runtime, "RUNTIME")
ARCH = ConvertedType("arch", to_arch, "ARCH")
SIZE = ConvertedType("size", to_size, "SIZE")
URL = ConvertedType("url", to_url, "URL")
REGION = ConvertedType("region", to_region, "REGION")
PATH = click.Path(path_type=Path)

_RUNTIMES = ", ".join(r.name for r in runtimes())
_ARCHS = ", ".join(a.value for a in Architecture)

runtime_option = click.option(
    "--runtime", type=RUNTIME, help=f"Lambda runtime: {_RUNTIMES} (default python3.11)."
)
arch_option = click.option(
    "--arch", type=ARCH, help=f"Lambda architecture: {_ARCHS} (aarch64 too; default x86_64)."
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
    help="Sandbox engine: the runtime image in Docker, or bubblewrap.",
)
json_option = click.option(
    "--json", "json_output", is_flag=True, help="Print one JSON document instead of tables."
)
debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    help="Show the full traceback of an unexpected error (or set LAYERFORGE_DEBUG=1).",
)
profile_option = click.option("--profile", help="AWS profile.")


def apply(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Decorate with several options at once, in the order given."""

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate
