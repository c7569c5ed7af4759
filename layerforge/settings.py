"""Settings as values: one converter per kind of value, shared by the command-line flags and by
``[tool.layerforge]``, so ``"200MiB"``, ``"no"`` or ``"aarch64"`` mean the same in both places.

``read_settings`` reads ``[tool.layerforge]`` of a pyproject.toml, checks it against its schema
(``data/pyproject.schema.json``: unknown keys get a did-you-mean, wrong types name the key), then
each value goes through the converter of its key, relative paths are resolved against the folder
of the file, and every problem names the file and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from layerforge.documents import SETTINGS_TABLE, read_toml, validate
from layerforge.errors import UsageError
from layerforge.runtimes import Architecture, Runtime, get_runtime

__all__ = [
    "SETTINGS",
    "SettingValueError",
    "read_settings",
    "to_arch",
    "to_bool",
    "to_region",
    "to_runtime",
    "to_size",
    "to_url",
]


class SettingValueError(ValueError):
    """A value that its setting or flag cannot take; the message says what would be right."""


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
#: No size is larger (the schema's maximum too): 8 PiB, far beyond any layer or disk.
MAX_SIZE = 2**53


def to_size(value: object) -> int:
    """``262144000``, ``"250MiB"`` or ``"200MB"`` as bytes."""
    match = _SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        size: float = value
    elif match:
        number, unit = match.groups()
        size = float(number) * _UNITS[(unit or "b").lower()]
    else:
        raise SettingValueError(f"{value!r} is not a size such as 262144000, 250MiB or 200MB")
    if not math.isfinite(size) or size > MAX_SIZE:
        raise SettingValueError(f"{value!r} is larger than any size layerforge can check")
    return int(size)


def to_bool(value: object) -> bool:
    """true/false, yes/no, on/off, 1/0 (as a TOML boolean or a string)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingValueError(f"{value!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def to_str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingValueError(f"{value!r} is not a non-empty string")
    return value.strip()


def to_str_list(value: object) -> tuple[str, ...]:
    """A string or a list of strings."""
    if isinstance(value, str):
        return (to_str(value),)
    if isinstance(value, (list, tuple)):
        return tuple(to_str(item) for item in value)
    raise SettingValueError(f"{value!r} is not a string or a list of strings")


def to_url(value: object) -> str:
    """An http(s) or file URL (an index, an endpoint)."""
    text = to_str(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "file") or (
        parts.scheme != "file" and not parts.netloc
    ):
        raise SettingValueError(f"{text!r} is not a URL such as https://pypi.org/simple")
    return text


def to_region(value: object) -> str:
    text = to_str(value)
    if not _REGION.match(text):
        raise SettingValueError(f"{text!r} is not an AWS region such as us-east-1 or eu-west-2")
    return text


def to_runtime(value: object) -> Runtime:
    """``python3.11``, ``3.11`` or ``py311``."""
    try:
        return get_runtime(to_str(value))
    except UsageError as exc:
        raise SettingValueError(f"{exc.message} ({exc.hint})") from None


def to_arch(value: object) -> Architecture:
    """``x86_64`` or ``arm64`` (``amd64`` and ``aarch64`` too)."""
    try:
        return Architecture.parse(to_str(value))
    except UsageError as exc:
        raise SettingValueError(f"{exc.message} ({exc.hint})") from None


def to_path(value: object) -> Path:
    return Path(to_str(value))


def to_path_list(value: object) -> tuple[Path, ...]:
    return tuple(Path(item) for item in to_str_list(value))


def one_of(*choices: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        text = to_str(value).lower()
        if text not in choices:
            raise SettingValueError(f"{value!r} is not one of: {', '.join(choices)}")
        return text

    return convert


def _list_of(convert: Callable[[object], Any]) -> Callable[[object], tuple[Any, ...]]:
    def convert_all(value: object) -> tuple[Any, ...]:
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(convert(item) for item in items)

    return convert_all


def _table(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettingValueError(f"{value!r} is not a table")
    return dict(value)


def _matrix(value: object) -> dict[str, tuple[Any, ...]]:
    """``{runtime = ["python3.11", "python3.12"], arch = ["x86_64", "arm64"]}``, as the README
    shows it (``runtimes``/``archs``, the first spelling, are read too)."""
    table = _table(value)
    matrix: dict[str, tuple[Any, ...]] = {}
    for key, convert in (("runtime", to_runtime), ("arch", to_arch)):
        if key in table and f"{key}s" in table:
            raise SettingValueError(f"give {key} or {key}s, not both")
        matrix[key] = _list_of(convert)(table.get(key, table.get(f"{key}s", [])))
    return matrix


@dataclass(frozen=True)
class Setting:
    """One ``[tool.layerforge]`` key: its converter, and whether its values are paths."""

    convert: Callable[[object], Any]
    paths: bool = False


#: Every key of ``[tool.layerforge]`` (kebab-case, as in TOML) and how its value is read.
SETTINGS: dict[str, Setting] = {
    "requirements": Setting(to_str_list),
    "requirements-file": Setting(to_path_list, paths=True),
    "constraints-file": Setting(to_path_list, paths=True),
    "extras": Setting(to_str_list),
    "find-links": Setting(to_path_list, paths=True),
    "runtime": Setting(_list_of(to_runtime)),
    "arch": Setting(_list_of(to_arch)),
    "backend": Setting(one_of("auto", "cross", "docker")),
    "installer": Setting(one_of("auto", "pip", "uv")),
    "image": Setting(to_str),
    "network": Setting(to_str),
    "output": Setting(to_str, paths=True),  # a string: "dist/" names a folder
    "strip": Setting(to_bool),
    "bytecode": Setting(to_bool),
    "python": Setting(to_path, paths=True),
    "index-url": Setting(to_url),
    "extra-index-urls": Setting(_list_of(to_url)),
    "max-unzipped": Setting(to_size),
    "cache": Setting(to_bool),
    "proof": Setting(_table),
    "matrix": Setting(_matrix),
}


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, str):
        folder = "/" if value.endswith("/") else ""
        return value if Path(value).is_absolute() else str(base / value) + folder
    if isinstance(value, tuple):
        return tuple(_resolve(item, base) for item in value)
    return value


def parse_settings(path: Path, table: Mapping[str, Any]) -> dict[str, Any]:
    """Converted values of a ``[tool.layerforge]`` table that follows the schema, keyed by
    snake_case names."""
    settings: dict[str, Any] = {}
    for key, raw in table.items():
        setting = SETTINGS[key]
        try:
            value = setting.convert(raw)
        except SettingValueError as exc:
            raise UsageError(
                f"{path}: [tool.layerforge].{key}: {exc}",
                hint="fix the value in the file; flags on the command line take the same values",
            ) from None
        settings[key.replace("-", "_")] = _resolve(value, path.parent) if setting.paths else value
    return settings


def read_settings(path: Path, *, explicit: bool) -> dict[str, Any]:
    """``[tool.layerforge]`` of ``path``; {} when an implicit pyproject.toml does not exist."""
    if not path.exists() and not explicit:
        return {}
    data = read_toml(path, "settings from", hint="check --config (it must name a pyproject.toml)")
    tool = data.get("tool", {})
    if not isinstance(tool, dict) or "layerforge" in tool:  # else: nothing of layerforge's
        validate({"tool": tool}, SETTINGS_TABLE, source=str(path))
    return parse_settings(path, tool.get("layerforge", {}))
