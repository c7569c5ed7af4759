"""Outputs as one unit: manifest names, -o templates, the lock two placements share, and the
one rule every command reads a layer's manifest by."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from layerforge.builder.output.manifest import layer_target, read_manifest
from layerforge.builder.output.placement import manifest_path_for, place_layer
from layerforge.builder.request import specs_from_settings
from layerforge.errors import UsageError
from layerforge.events import Event
from layerforge.runtimes import Architecture, get_runtime

PY311, PY312 = get_runtime("python3.11"), get_runtime("python3.12")
X86, ARM = Architecture.X86_64, Architecture.ARM64


@pytest.mark.parametrize(
    ("output", "manifest"),
    [
        ("dist/layer.zip", "dist/layer.manifest.json"),
        ("out/python3.11-x86_64", "out/python3.11-x86_64.manifest.json"),
        ("out/python3.11-x86_64.zip", "out/python3.11-x86_64.manifest.json"),
        ("out/layer.tar", "out/layer.tar.manifest.json"),
        ("out/.zip", "out/.zip.manifest.json"),
    ],
)
def test_manifest_names_derive_from_the_whole_file_name(output: str, manifest: str) -> None:
    assert manifest_path_for(Path(output)) == Path(manifest)


def _outputs(output: str, runtimes: tuple[Any, ...], archs: tuple[Any, ...]) -> list[str]:
    flags = {"output": output, "runtime": runtimes, "arch": archs, "requirements": ("six",)}
    return [str(spec.output) for spec in specs_from_settings(flags, {})]


def test_a_template_without_zip_gives_every_combination_its_own_zip_and_manifest() -> None:
    outputs = _outputs("out/{runtime}-{arch}", (PY311, PY312), (X86, ARM))
    assert outputs == [
        "out/python3.11-x86_64",
        "out/python3.11-arm64",
        "out/python3.12-x86_64",
        "out/python3.12-arm64",
    ]
    manifests = {manifest_path_for(Path(o)) for o in outputs}
    assert len(manifests) == 4 and not manifests & {Path(o) for o in outputs}


def test_a_template_ending_in_a_slash_names_a_folder_per_combination() -> None:
    assert _outputs("out/{arch}/", (PY311,), (X86, ARM)) == [
        "out/x86_64/layer-python3.11-x86_64.zip",
        "out/arm64/layer-python3.11-arm64.zip",
    ]


def test_doubled_braces_are_literal_braces() -> None:
    assert _outputs("out/{{team}}-{arch}.zip", (PY311,), (X86,)) == ["out/{team}-x86_64.zip"]


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("out/{nope}.zip", "{nope} is not a placeholder"),
        ("out/{0}.zip", "{0} is not a placeholder"),
        ("out/{}.zip", "{} is not a placeholder"),
        ("out/{arch!r}.zip", "{arch!r} is not a placeholder"),
        ("out/{runtime.name}.zip", "{runtime.name} is not a placeholder"),
        ("out/{arch.zip", "a '{' with no '}' after it (character 5)"),
        ("out/arch}.zip", "a '}' with no '{' before it (character 9)"),
        ("out/{{arch}.zip", "a '}' with no '{' before it (character 11)"),
    ],
)
def test_bad_placeholders_are_usage_errors_naming_them(template: str, named: str) -> None:
    with pytest.raises(UsageError) as caught:
        _outputs(template, (PY311,), (X86,))
    assert named in caught.value.message and template in caught.value.message
    assert "{runtime} and {arch}" in str(caught.value.hint)


def test_collisions_are_refused_naming_both_combinations_and_the_file() -> None:
    with pytest.raises(UsageError) as caught:
        _outputs("out/{runtime}.zip", (PY311,), (X86, ARM))
    assert caught.value.message == (
        "the zip of python3.11/x86_64 and the zip of python3.11/arm64 would both be "
        "out/python3.11.zip"
    )


def test_a_zip_may_not_take_a_manifests_name() -> None:
    with pytest.raises(UsageError, match=r"\.manifest\.json is a manifest's"):
        _outputs("out/{arch}.manifest.json", (PY311,), (X86,))


# -- the lock two placements of one pair share ----------------------------------------------


def _place_when_released(release: int, source: Path, sha256: str, output: Path) -> None:
    """In a child: wait for ``release``, then place ``source``, pausing 20 ms between the two
    renames (INJECTED DELAY: a preemption at that exact instant cannot be produced on
    demand; without the lock, the pairs of two such processes interleave in most rounds)."""
    real_replace = Path.replace

    def slow_replace(self: Path, target: Any) -> Path:
        moved = real_replace(self, target)
        if Path(target) == output:
            time.sleep(0.02)
        return moved

    os.read(release, 1)
    Path.replace = slow_replace  # type: ignore[assignment,method-assign]
    place_layer(source, sha256, json.dumps({"sha256": sha256}), output)


def _place_at_once(sources: list[tuple[Path, str]], output: Path) -> None:
    """Every source placed at ``output`` by its own process, all released at the same instant."""
    read_end, write_end = os.pipe()
    children = []
    for source, sha256 in sources:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(write_end)
                _place_when_released(read_end, source, sha256, output)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    os.close(read_end)
    os.close(write_end)  # both children wake up now
    for pid in children:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_two_processes_placing_one_pair_take_turns(tmp_path: Path) -> None:
    sources = []
    for number in range(2):
        data = os.urandom(4096) + bytes([number])
        (tmp_path / f"{number}.zip").write_bytes(data)
        sources.append((tmp_path / f"{number}.zip", hashlib.sha256(data).hexdigest()))
    output = tmp_path / "out" / "layer.zip"
    output.parent.mkdir()
    for _ in range(30):
        _place_at_once(sources, output)
        recorded = json.loads(manifest_path_for(output).read_text())["sha256"]
        assert recorded == hashlib.sha256(output.read_bytes()).hexdigest()
        assert sorted(p.name for p in output.parent.iterdir()) == [
            "layer.manifest.json",
            "layer.zip",
        ]


# -- reading a manifest: only the one that describes that very zip -----------------------


def _layer(folder: Path, name: str = "layer.zip", data: bytes = b"PK a layer") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def _manifest(layer: Path, runtime: str, arch: str, *, of: bytes | None = None) -> None:
    data = layer.read_bytes() if of is None else of
    document = {
        "runtime": runtime,
        "architecture": arch,
        "sha256": hashlib.sha256(data).hexdigest(),
        "zipped_bytes": len(data),
    }
    manifest_path_for(layer).write_text(json.dumps(document))


def test_a_manifest_that_describes_its_zip_is_read(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    _manifest(layer, "python3.12", "arm64")
    manifest = read_manifest(layer)
    assert manifest is not None
    assert (manifest.runtime, manifest.architecture) == (PY312, ARM)
    assert layer_target([layer], None, None) == (PY312, ARM)
    assert layer_target([layer], PY311, None) == (PY311, ARM)  # a flag wins over it


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (lambda m, z: _manifest(z, "python3.12", "arm64", of=b"PK other"), "of 8 bytes, this"),
        (lambda m, z: _manifest(z, "python3.12", "arm64", of=b"PK a layeR"), "sha256"),
        (lambda m, z: m.write_text("{not json"), "not readable JSON"),
        (lambda m, z: m.write_text("[1, 2]"), "not a layerforge manifest"),
        (lambda m, z: m.write_text('{"sha256": "x", "zipped_bytes": 1}'), "no sha256"),
        (lambda m, z: _manifest(z, "python2.7", "arm64"), "not one layerforge knows"),
        (lambda m, z: m.mkdir(), "not a file"),
    ],
)
def test_a_manifest_that_does_not_describe_its_zip_is_ignored_and_said_so(
    tmp_path: Path, write: Any, reason: str
) -> None:
    layer = _layer(tmp_path)
    write(manifest_path_for(layer), layer)
    events: list[Event] = []
    assert read_manifest(layer, events.append) is None
    (event,) = events
    assert event.message.startswith(f"ignoring {manifest_path_for(layer)} (") and reason in (
        event.message
    )
    with pytest.raises(UsageError) as caught:
        layer_target([layer], None, ARM)
    assert reason in caught.value.message and caught.value.hint
    assert "give --runtime (" in caught.value.hint  # only the flag still missing
    assert layer_target([layer], PY311, X86) == (PY311, X86)  # both flags: no manifest needed


def test_no_manifest_means_the_defaults_and_no_note(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    events: list[Event] = []
    assert read_manifest(layer, events.append) is None and events == []
    assert layer_target([layer, tmp_path], None, None) == (PY311, X86)


def test_layers_whose_manifests_disagree_need_the_flag(tmp_path: Path) -> None:
    arm = _layer(tmp_path / "a", data=b"PK arm")
    x86 = _layer(tmp_path / "b", data=b"PK x86")
    _manifest(arm, "python3.11", "arm64")
    _manifest(x86, "python3.11", "x86_64")
    with pytest.raises(UsageError, match="different targets") as caught:
        layer_target([arm, x86], None, None)
    assert "give --runtime and --arch" in str(caught.value.hint)
    assert layer_target([arm, x86], None, X86) == (PY311, X86)  # they agree on the runtime
