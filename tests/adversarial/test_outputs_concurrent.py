"""Outputs are one unit, also when two runs meet: two builds writing one -o at once, an output
edited in place, -o names and templates. Each zip is described by its own manifest, and no
output shares its file with another output or with the cache.

The builds install wheels made here (no index: drift is not checked), so rounds are fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly
from tests.adversarial.harness import Run
from tests.conftest import make_private_wheel

pytestmark = [pytest.mark.adversarial, pytest.mark.slow]

ROUNDS = 20


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions of one private wheel, and an empty index so nothing leaves the machine."""
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        make_private_wheel(folder / "links", version)
    (folder / "index").mkdir()
    folder.chmod(0o755)
    return folder


def _argv(wheels: Path, version: str, output: str, *extra: str) -> list[str]:
    return [
        "build",
        f"private-pkg=={version}",
        "--find-links",
        str(wheels / "links"),
        "--index-url",
        (wheels / "index").as_uri(),
        "--backend",
        "cross",
        "-o",
        output,
        "--json",
        *extra,
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _described(zip_path: Path, manifest_path: Path) -> dict[str, Any]:
    """The manifest, asserted to describe the zip beside it: its sha256, its size, and the
    version of the one distribution inside."""
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == _sha256(zip_path), manifest_path
    assert manifest["zipped_bytes"] == zip_path.stat().st_size
    with zipfile.ZipFile(zip_path) as archive:
        (info,) = {n.split("/")[1] for n in archive.namelist() if ".dist-info/" in n}
    assert info == f"private_pkg-{manifest['packages'][0]['version']}.dist-info"
    return manifest


def _at_once(lf: LF, *argvs: list[str], env: dict[str, str]) -> list[Run]:
    with ThreadPoolExecutor(len(argvs)) as pool:
        return list(pool.map(lambda argv: lf(*argv, env=env), argvs))


def test_two_builds_writing_one_output_at_once_leave_a_consistent_pair(
    lf: LF, work: Path, wheels: Path
) -> None:
    """Two builds of different layers to the same -o and the same cache, started together,
    many times (now and then one of them builds afresh while the other reuses the cache):
    both succeed, and the pair left is always one build's zip with that build's manifest."""
    env = {"LAYERFORGE_CACHE_DIR": str(work / "shared-cache")}
    seen = set()
    for number in range(ROUNDS):
        argvs = [_argv(wheels, version, "out/layer.zip") for version in ("1.0", "2.0")]
        if number % 5 == 4:
            argvs[number % 2].append("--no-cache")
        runs = _at_once(lf, *argvs, env=env)
        for run in runs:
            assert run.code == 0, run.describe()
            assert run.leftovers == [] and run.processes == [], run.describe()
        manifest = _described(work / "out/layer.zip", work / "out/layer.manifest.json")
        seen.add(manifest["packages"][0]["version"])
        assert sorted(p.name for p in (work / "out").iterdir()) == [
            "layer.manifest.json",
            "layer.zip",
        ]
    assert seen == {"1.0", "2.0"} or len(seen) == 1  # whichever won, never a mix


def _entry_zip(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "builds").iterdir() if not p.name.startswith(".")]
    return entry / "layer.zip"


def test_an_output_edited_in_place_changes_no_other_output_nor_the_cache(
    lf: LF, work: Path, wheels: Path
) -> None:
    cache = work / "cache"
    env = {"LAYERFORGE_CACHE_DIR": str(cache)}
    first = lf(*_argv(wheels, "1.0", "a/layer.zip"), env=env)
    second = lf(*_argv(wheels, "1.0", "b/layer.zip"), env=env)
    assert first.code == 0 and second.code == 0, first.describe() + second.describe()
    assert second.json()["cached"] is True
    a, b, cached = work / "a/layer.zip", work / "b/layer.zip", _entry_zip(cache)
    assert len({p.stat().st_ino for p in (a, b, cached)}) == 3
    assert all(p.stat().st_nlink == 1 for p in (a, b, cached))
    original = a.read_bytes()
    with b.open("r+b") as edited:
        edited.seek(0, os.SEEK_END)
        edited.write(b"appended in place")
    assert a.read_bytes() == original and cached.read_bytes() == original
    _described(a, work / "a/layer.manifest.json")
    third = lf(*_argv(wheels, "1.0", "c/layer.zip"), env=env)
    assert third.code == 0, third.describe()
    assert third.json()["cached"] is True and (work / "c/layer.zip").read_bytes() == original
    # b's manifest no longer describes b: read by no command, said so
    check = lf("verify-abi", "b/layer.zip")
    failed_cleanly(check, 2, "ignoring b/layer.manifest.json", "--runtime and --arch")


def test_a_matrix_template_without_zip_writes_a_manifest_per_layer(
    lf: LF, work: Path, wheels: Path
) -> None:
    argv = _argv(wheels, "1.0", "out/{runtime}-{arch}", "--arch", "x86_64", "--arch", "arm64")
    run = lf(*argv)
    assert run.code == 0, run.describe()
    names = ["python3.11-arm64", "python3.11-x86_64"]
    assert sorted(p.name for p in (work / "out").iterdir()) == sorted(
        [*names, *(f"{n}.manifest.json" for n in names)]
    )
    for name in names:
        manifest = _described(work / "out" / name, work / "out" / f"{name}.manifest.json")
        assert manifest["architecture"] == name.split("-")[1]
    # and every command takes the arm64 layer for arm64, from its manifest
    report = lf("verify-abi", "out/python3.11-arm64", "--json")
    assert report.code == 0, report.describe()
    assert (report.json()["runtime"], report.json()["architecture"]) == ("python3.11", "arm64")


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("out/{runtime}.zip", "and the zip of python3.11/arm64 would both be out/python3.11.zip"),
        ("out/{arch}.manifest.json", "out/x86_64.manifest.json: a name ending in .manifest.json"),
        ("out/{nope}.zip", "-o out/{nope}.zip: {nope} is not a placeholder"),
        ("out/{0}.zip", "-o out/{0}.zip: {0} is not a placeholder"),
        ("out/{}.zip", "-o out/{}.zip: {} is not a placeholder"),
        ("out/{runtime.zip", "-o out/{runtime.zip: a '{' with no '}' after it (character 5)"),
        ("out/}{arch}.zip", "-o out/}{arch}.zip: a '}' with no '{' before it (character 5)"),
    ],
)
def test_bad_outputs_are_refused_before_any_work(
    lf: LF, work: Path, wheels: Path, output: str, fragment: str
) -> None:
    run = lf(*_argv(wheels, "1.0", output, "--arch", "x86_64", "--arch", "arm64"))
    failed_as_json(run, 2, fragment)
    assert not (work / "out").exists()
    assert run.seconds < 20, run.describe()


def test_a_bad_placeholder_in_the_settings_is_a_usage_error_too(lf: LF, work: Path) -> None:
    (work / "pyproject.toml").write_text('[tool.layerforge]\noutput = "dist/{version}.zip"\n')
    failed_cleanly(lf("build", "six==1.16.0"), 2, "{version} is not a placeholder")


def test_an_output_whose_manifest_another_zip_already_has_is_refused(
    lf: LF, work: Path, wheels: Path
) -> None:
    (work / "out").mkdir()
    (work / "out/layer.zip").write_bytes(b"PK the last good layer")
    run = lf(*_argv(wheels, "1.0", "out/layer"))
    failed_as_json(run, 2, "out/layer.manifest.json would be the manifest of out/layer.zip too")
    assert sorted(p.name for p in (work / "out").iterdir()) == ["layer.zip"]
