"""verify-abi with hostile targets: each a finding or a clean error, in bounded time and memory."""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly, zip_of

pytestmark = pytest.mark.adversarial

ELF_HEADER = (
    b"\x7fELF\x02\x01\x01"
    + b"\0" * 9
    + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
)


def _finding(lf: LF, target: Path | str, rule: str, fragment: str) -> None:
    run = lf("verify-abi", str(target), "--json")
    assert run.code == 1, run.describe()
    assert "Traceback" not in run.err
    document = run.json()
    messages = [
        f"{f['rule']}: {f['file']}: {f['message']}"
        for f in document["findings"]
        if f["severity"] == "error"
    ]
    assert any(rule in m and fragment in m for m in messages), messages
    assert run.seconds < 30 and run.max_rss_kb < 400 * 1024


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("not-a-zip.zip", b"just some text\n", "is not a readable zip"),
        ("empty.zip", b"", "is not a readable zip"),
        ("truncated.zip", None, "is not a readable zip"),
        ("wheel.whl", b"PK\x03\x04 but nothing else", "is not a readable zip"),
    ],
)
def test_unreadable_archives(
    lf: LF, work: Path, small_layer: Path, name: str, content: bytes | None, fragment: str
) -> None:
    target = work / name
    target.write_bytes(small_layer.read_bytes()[:60] if content is None else content)
    failed_cleanly(lf("verify-abi", name), 2, fragment, bound=15)


def test_special_and_missing_targets(lf: LF, work: Path) -> None:
    os.mkfifo(work / "fifo.zip")
    failed_cleanly(lf("verify-abi", "fifo.zip"), 2, "not a regular file or folder", bound=10)
    failed_cleanly(lf("verify-abi", "/dev/zero"), 2, "not a regular file or folder", bound=10)
    run = lf("verify-abi", "no[/]such.zip")
    failed_cleanly(run, 2, "no such file or folder: no[/]such.zip", bound=10)
    failed_as_json(lf("verify-abi", "absent.zip", "--json"), 2, "absent.zip")


def test_mixing_targets_and_bad_flags(lf: LF, work: Path, small_layer: Path) -> None:
    (work / "a.whl").write_bytes(small_layer.read_bytes())
    failed_cleanly(lf("verify-abi", "a.whl", str(work)), 2, "give one layer", bound=10)
    failed_cleanly(
        lf("verify-abi", str(small_layer), "--function-size", "lots"), 2, "size", bound=10
    )
    failed_cleanly(
        lf("verify-abi", str(small_layer), "--runtime", "3.99"), 2, "unknown runtime", bound=10
    )
    assert lf("verify-abi", str(small_layer), "--runtime", "3.11", "--arch", "aarch64").code == 0


@pytest.mark.parametrize(
    ("member", "content", "rule", "fragment"),
    [
        ("python/pkg/_tiny.so", b"\x7fELF" + b"\0" * 12, "integrity", "ELF"),
        ("python/pkg/_text.cpython-311-x86_64-linux-gnu.so", b"hello\n", "integrity", "not an ELF"),
        ("python/pkg/_head.so", ELF_HEADER, "integrity", "truncated"),
        ("python/pkg/_garbage.so", ELF_HEADER + os.urandom(4096), "integrity", ""),
        (
            "python/x-1.dist-info/WHEEL",
            b"Wheel-Version: 1.0\nTag: not-a-tag\n",
            "wheel-tags",
            "tag",
        ),
        ("python/x-1.dist-info/WHEEL", b"Tag: " + b"\xff\xfe" * 100 + b"\n", "wheel-tags", ""),
    ],
)
def test_broken_members_are_findings(
    lf: LF, work: Path, member: str, content: bytes, rule: str, fragment: str
) -> None:
    _finding(lf, zip_of(work / "l.zip", {member: content}), rule, fragment)


def test_a_corrupt_member_is_a_finding(lf: LF, work: Path) -> None:
    layer = zip_of(
        work / "c.zip",
        {
            "python/pkg/data.so": b"\x7fELF" + os.urandom(20_000),
            "python/pkg/__init__.py": b"x = 1\n" * 1000,
        },
    )
    with zipfile.ZipFile(layer) as archive:
        info = archive.getinfo("python/pkg/__init__.py")
    data = bytearray(layer.read_bytes())
    start = info.header_offset + 30 + len(info.filename)
    data[start + 5 : start + 25] = b"\xff" * 20
    layer.write_bytes(bytes(data))
    run = lf("verify-abi", str(layer))
    assert run.code == 1 and "Traceback" not in run.err, run.describe()


def test_a_zip_that_declares_too_many_entries_is_refused_unread(
    lf: LF, work: Path, small_layer: Path
) -> None:
    data = bytearray(small_layer.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack("<II", data[at + 12 : at + 20])
    zip64 = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 10**7, 10**7, size, offset)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, at, 1)
    data[at + 8 : at + 12] = struct.pack("<HH", 0xFFFF, 0xFFFF)
    (work / "many.zip").write_bytes(bytes(data[:at]) + zip64 + locator + bytes(data[at:]))
    failed_cleanly(lf("verify-abi", "many.zip"), 2, "entries", bound=10)


def test_a_link_bomb_is_read_in_bounded_memory(lf: LF, work: Path) -> None:
    path = work / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("python/pkg/link")
        info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            for _ in range(300):
                member.write(b"a" * 1_000_000)
    run = lf("verify-abi", str(path))
    assert run.code in (0, 1) and run.max_rss_kb < 200 * 1024, run.describe()


def test_an_unreadable_folder_in_a_folder_target(lf: LF, work: Path, nobody: int) -> None:
    layer = work / "layer" / "python" / "pkg"
    layer.mkdir(parents=True)
    (layer / "__init__.py").write_text("x = 1\n")
    secret = layer / "secret"
    secret.mkdir()
    (secret / "mod.py").write_text("y = 2\n")
    secret.chmod(0o000)
    (layer / "private.so").write_bytes(b"\x7fELF")
    (layer / "private.so").chmod(0o000)
    for folder in (work / "layer", work / "layer" / "python", layer):
        folder.chmod(0o755)
    run = lf("verify-abi", str(work / "layer"), "--json", user=nobody)
    secret.chmod(0o755)
    assert run.code == 1, run.describe()
    problems = {f["file"] for f in run.json()["findings"] if f["rule"] == "integrity"}
    assert problems == {"python/pkg/secret/", "python/pkg/private.so"}


LINK = stat.S_IFLNK | 0o777


def test_long_link_chains_and_loops_are_findings_in_bounded_time(lf: LF, work: Path) -> None:
    """20,000 links, each to the next, ending in a loop: every lookup stops at Linux's 40."""
    members = {f"python/pkg/l{i}.so": f"l{i + 1}.so".encode() for i in range(20_000)}
    members["python/pkg/l20000.so"] = b"l0.so"
    layer = zip_of(work / "chain.zip", members, dict.fromkeys(members, LINK))
    _finding(lf, layer, "integrity", "loops: more than 40 links")


def test_a_layer_of_dangling_links_is_never_a_pass(lf: LF, work: Path) -> None:
    members = {"python/pkg/_ext.abi3.so": b"_gone.abi3.so", "python/pkg/__init__.py": b""}
    layer = zip_of(work / "dangling.zip", members, {"python/pkg/_ext.abi3.so": LINK})
    _finding(lf, layer, "integrity", "python/pkg/_gone.abi3.so is not in the layer")


def test_a_member_that_declares_4_gib_is_read_only_as_far_as_it_goes(lf: LF, work: Path) -> None:
    """Its central directory claims 4 GiB; the data inflates to 64 KiB: the reader stops where
    the data does (truncated), and never holds more than it read."""
    body = ELF_HEADER + b"\0" * 65_536
    layer = zip_of(work / "liar.zip", {"python/pkg/_big.so": body})
    data = bytearray(layer.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 0xFFFFFFF0)  # uncompressed size
    layer.write_bytes(bytes(data))
    _finding(lf, layer, "size", "")
    _finding(lf, layer, "integrity", "")
