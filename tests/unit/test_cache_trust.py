"""The warm path: an entry unchanged since it was stored is trusted (cloned into place, without
rereading; never linked: an output is a file of its own); any change to it (content, or only
its mtime) withdraws the trust, and the placement then copies while checking the sha256,
refusing a damaged entry. A hit delivers the zip it opened, whatever happens to the entry next.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from layerforge.builder.output.cache import BuildCache
from layerforge.builder.output.placement import place_layer
from layerforge.builder.result import BuildResult
from layerforge.errors import CheckFailedError


def _result(layer: Path) -> BuildResult:
    data = layer.read_bytes()
    return BuildResult(
        output="dist/layer.zip",
        manifest="dist/layer.manifest.json",
        sha256=hashlib.sha256(data).hexdigest(),
        unzipped_bytes=len(data),
        zipped_bytes=len(data),
        file_count=1,
        runtime="python3.11",
        glibc="2.26",
        architecture="x86_64",
        backend="cross",
        layerforge_version="0",
        requirements=["six"],
        packages=[],
        steps=[],
        drift=[],
        unzipped_budget=262_144_000,
        direct_upload_limit=52_428_800,
    )


@pytest.fixture
def stored(tmp_path: Path) -> tuple[BuildCache, BuildResult]:
    layer = tmp_path / "built.zip"
    layer.write_bytes(os.urandom(4096))
    cache = BuildCache(tmp_path / "cache")
    result = _result(layer)
    cache.store("k" * 64, layer, result)
    return cache, result


def test_an_unchanged_entry_is_cloned_into_place_never_linked(
    stored: tuple[BuildCache, BuildResult], tmp_path: Path
) -> None:
    cache, result = stored
    hit = cache.lookup("k" * 64)
    assert hit is not None and hit.trusted
    output = tmp_path / "out" / "layer.zip"
    output.parent.mkdir()
    with hit:
        place_layer(hit.reader, result.sha256, "{}\n", output, trusted=hit.trusted)
    cached = hit.layer.read_bytes()
    assert output.stat().st_ino != hit.layer.stat().st_ino and output.stat().st_nlink == 1
    assert output.read_bytes() == cached
    assert oct(output.stat().st_mode & 0o777) == oct(0o644)
    with output.open("r+b") as edited:  # an edit in place reaches neither the cache
        edited.seek(0, os.SEEK_END)
        edited.write(b"appended")
    assert hit.layer.read_bytes() == cached
    again = cache.lookup("k" * 64)
    assert again is not None and again.trusted  # nor its trust
    again.reader.close()


def test_a_changed_entry_loses_trust_and_is_refused_when_damaged(
    stored: tuple[BuildCache, BuildResult], tmp_path: Path
) -> None:
    cache, result = stored
    with cache.lookup("k" * 64) as entry:  # type: ignore[union-attr]
        data = bytearray(entry.layer.read_bytes())
        data[10:20] = b"\0" * 10  # same size, other bytes, written in place
        entry.layer.write_bytes(bytes(data))
    hit = cache.lookup("k" * 64)
    assert hit is not None and not hit.trusted
    output = tmp_path / "layer.zip"
    output.write_bytes(b"the last good layer")
    with hit, pytest.raises(CheckFailedError, match="changed"):
        place_layer(hit.reader, result.sha256, "{}\n", output, trusted=hit.trusted)
    assert output.read_bytes() == b"the last good layer"


def test_touching_an_entry_withdraws_trust_but_intact_bytes_still_deliver(
    stored: tuple[BuildCache, BuildResult], tmp_path: Path
) -> None:
    cache, result = stored
    with cache.lookup("k" * 64) as entry:  # type: ignore[union-attr]
        os.utime(entry.layer, ns=(1, 1))
    hit = cache.lookup("k" * 64)
    assert hit is not None and not hit.trusted
    output = tmp_path / "layer.zip"
    with hit:
        place_layer(hit.reader, result.sha256, "{}\n", output, trusted=hit.trusted)
    assert output.stat().st_ino != hit.layer.stat().st_ino  # copied and checked
    assert hashlib.sha256(output.read_bytes()).hexdigest() == result.sha256


def test_a_hit_delivers_the_zip_it_opened_while_another_build_replaces_the_entry(
    stored: tuple[BuildCache, BuildResult], tmp_path: Path
) -> None:
    """Two builds sharing a cache: one's hit stays whole while the other stores the same key
    again (and a stale judgement of damage never drops the newer entry)."""
    cache, result = stored
    hit = cache.lookup("k" * 64)
    assert hit is not None
    newer = tmp_path / "newer.zip"
    newer.write_bytes(os.urandom(4096))
    BuildCache(cache.root).store("k" * 64, newer, _result(newer))  # another process's store
    output = tmp_path / "layer.zip"
    with hit:
        place_layer(hit.reader, result.sha256, "{}\n", output, trusted=hit.trusted)
    assert hashlib.sha256(output.read_bytes()).hexdigest() == result.sha256
    cache.discard("k" * 64, "judged on the old entry", entry=hit.entry)
    with cache.lookup("k" * 64) as current:  # type: ignore[union-attr]
        assert current.layer.read_bytes() == newer.read_bytes()
    assert not [p for p in (cache.root / "builds").iterdir() if p.name not in (".lock", "k" * 64)]


def test_a_staged_layer_never_committed_leaves_nothing_and_the_old_pair_intact(
    tmp_path: Path,
) -> None:
    from layerforge.builder.output.placement import staged_layer
    from tests.conftest import old_pair_and_new_zip

    output, source = old_pair_and_new_zip(tmp_path)
    with pytest.raises(RuntimeError), staged_layer(output) as staged:  # verify failed meanwhile
        staged.fill(source, hashlib.sha256(b"new zip").hexdigest())
        raise RuntimeError("verification failed")
    assert sorted(p.name for p in output.parent.iterdir()) == ["layer.manifest.json", "layer.zip"]
    assert output.read_bytes() == b"old zip"
    with staged_layer(output) as staged:
        staged.fill(source, hashlib.sha256(b"new zip").hexdigest())
        staged.commit("new manifest")
    assert output.read_bytes() == b"new zip"
    assert output.with_name("layer.manifest.json").read_text() == "new manifest"
    assert sorted(p.name for p in output.parent.iterdir()) == ["layer.manifest.json", "layer.zip"]
