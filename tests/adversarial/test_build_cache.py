"""The build cache can be damaged, stale or unwritable: a build never delivers wrong bytes and
never loses a finished layer because of it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.conftest import LF

pytestmark = [pytest.mark.adversarial, pytest.mark.network, pytest.mark.slow]


def _build(
    lf: LF, work: Path, output: str, *extra: str, cache: Path, env: dict[str, str] | None = None
) -> Any:
    run = lf(
        "build",
        "six==1.16.0",
        "--backend",
        "cross",
        "-o",
        output,
        "--json",
        *extra,
        env={"LAYERFORGE_CACHE_DIR": str(cache), **(env or {})},
    )
    assert run.code == 0, run.describe()
    return run.json()


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "builds").iterdir() if not p.name.startswith(".")]
    return entry


def test_a_damaged_cache_entry_is_rebuilt_not_delivered(lf: LF, work: Path) -> None:
    cache = work / "cache"
    first = _build(lf, work, "a/layer.zip", cache=cache)
    entry = _entry(cache)
    data = bytearray((entry / "layer.zip").read_bytes())
    data[100:200] = b"\0" * 100  # same size, different bytes
    (entry / "layer.zip").write_bytes(bytes(data))
    second = _build(lf, work, "b/layer.zip", cache=cache)
    assert second["cached"] is False and second["sha256"] == first["sha256"]
    assert any("damaged" in w for w in second["warnings"])
    placed = (work / "b/layer.zip").read_bytes()
    assert hashlib.sha256(placed).hexdigest() == first["sha256"]
    with zipfile.ZipFile(work / "b/layer.zip") as archive:
        assert archive.testzip() is None
    third = _build(lf, work, "c/layer.zip", cache=cache)
    assert third["cached"] is True  # the rebuilt entry is good again


def test_garbage_cache_records_are_rebuilt(lf: LF, work: Path) -> None:
    cache = work / "cache"
    _build(lf, work, "a/layer.zip", cache=cache)
    (_entry(cache) / "manifest.json").write_text('{"sha256": 5}')
    again = _build(lf, work, "b/layer.zip", cache=cache)
    assert again["cached"] is False


def test_pip_configuration_is_part_of_the_cache_key(lf: LF, work: Path) -> None:
    cache = work / "cache"
    first = _build(lf, work, "a/layer.zip", cache=cache)
    constraint = work / "constraints.txt"
    constraint.write_text("six==1.15.0\n")
    pinned = lf(
        "build",
        "six",
        "--backend",
        "cross",
        "-o",
        "b/layer.zip",
        "--json",
        env={"LAYERFORGE_CACHE_DIR": str(cache), "PIP_CONSTRAINT": str(constraint)},
    )
    assert pinned.code == 0, pinned.describe()
    assert pinned.json()["cached"] is False
    assert [p["version"] for p in pinned.json()["packages"]] == ["1.15.0"]
    assert first["packages"][0]["version"] == "1.16.0"


def _unwritable(lf: LF, work: Path, cache: Path, user: int | None) -> None:
    (work / "out").mkdir(mode=0o777)
    (work / "out").chmod(0o777)
    run = lf(
        "build",
        "six==1.16.0",
        "--backend",
        "cross",
        "-o",
        "out/layer.zip",
        "--no-cache",
        "--json",
        env={"LAYERFORGE_CACHE_DIR": str(cache), "HOME": "/nonexistent"},
        user=user,
    )
    assert run.code == 0, run.describe()
    document = run.json()
    assert any("not writable" in w for w in document["warnings"]), document["warnings"]
    assert (
        json.loads((work / "out/layer.manifest.json").read_text())["sha256"] == document["sha256"]
    )


def test_a_cache_path_that_is_a_file_is_a_warning_not_a_lost_build(lf: LF, work: Path) -> None:
    cache = work / "not-a-folder"
    cache.write_text("x")
    _unwritable(lf, work, cache, None)


def test_a_read_only_cache_is_a_warning_not_a_lost_build(lf: LF, work: Path, nobody: int) -> None:
    cache = work / "readonly-cache"
    cache.mkdir(mode=0o555)
    cache.chmod(0o555)
    _unwritable(lf, work, cache, nobody)
