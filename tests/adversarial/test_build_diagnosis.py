"""A failed resolution names its real cause: a version that does not exist, conflicting pins, a
tampered hash, an unreachable index, an index that speaks only HTML."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly

pytestmark = [pytest.mark.adversarial, pytest.mark.network]

SIX_WHEEL_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def test_a_version_that_does_not_exist_is_not_blamed_on_glibc(lf: LF) -> None:
    run = lf("build", "six[extra]==99.0", "--backend", "cross")
    failed_cleanly(run, 2, "no release of six matches six[extra]==99.0", "1.17.0")
    assert "glibc" not in run.error_lines[0]


def test_a_project_that_does_not_exist(lf: LF) -> None:
    failed_cleanly(
        lf("build", "layerforge-no-such-project-xyz", "--backend", "cross"), 2, "no project named"
    )


def test_conflicting_pins_name_the_conflict(lf: LF) -> None:
    run = lf("build", "six==1.16.0", "six==1.15.0", "--backend", "cross")
    failed_cleanly(run, 1, "the requirements conflict")
    assert "six" in run.hint_lines[0]


def test_a_tampered_hash_names_the_package_and_the_hash_it_saw(lf: LF, work: Path) -> None:
    tampered = "0" * 64
    (work / "locked.txt").write_text(f"six==1.16.0 --hash=sha256:{tampered}\n")
    run = lf("build", "-r", "locked.txt", "--backend", "cross")
    failed_cleanly(run, 1, "hash mismatch", "six==1.16.0", SIX_WHEEL_SHA256)


def test_an_unreachable_index(lf: LF) -> None:
    run = lf(
        "build",
        "six==1.16.0",
        "--backend",
        "cross",
        "--index-url",
        "http://127.0.0.1:9/simple",
        env={"PIP_RETRIES": "0", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": "/dev/null"},
    )
    failed_cleanly(run, 3, "cannot reach the package index")


class _HtmlIndex(BaseHTTPRequestHandler):
    """A PEP 503 index that serves only HTML: six 1.16.0 as a wheel, no JSON at all."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/simple/six":
            body = (
                "<html><body><a href='https://files.pythonhosted.org/packages/d9/5a/"
                "e7c31adbe875f2abbb91bd84cf2dc52d792b5a01506781dbcf25c91daf11/"
                f"six-1.16.0-py2.py3-none-any.whl#sha256={SIX_WHEEL_SHA256}'>"
                "six-1.16.0-py2.py3-none-any.whl</a></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def html_index() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlIndex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def test_an_html_only_index_is_understood(lf: LF, html_index: str) -> None:
    env = {"PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": "", "PIP_RETRIES": "0"}
    run = lf("build", "six==1.15.0", "--backend", "cross", "--index-url", html_index, env=env)
    failed_cleanly(run, 2, "no release of six matches six==1.15.0", "1.16.0")
    good = lf(
        "build",
        "six==1.16.0",
        "--backend",
        "cross",
        "--index-url",
        html_index,
        "-o",
        "six.zip",
        env=env,
    )
    assert good.code == 0, good.describe()


# -- every problem in one run -------------------------------------------------------------------

#: A lock made on a developer's machine (glibc 2.36): none has a wheel for glibc 2.26.
HOST_PINS = ("contourpy==1.3.3", "numpy==2.4.6", "pillow==13.0.0", "pyarrow==26.0.1")
IDNA_WHEEL_SHA256 = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0"


def test_a_host_lock_fails_once_naming_every_pin_and_what_fits(lf: LF, work: Path) -> None:
    (work / "requirements.txt").write_text("\n".join([*HOST_PINS, "six==1.17.0"]) + "\n")
    run = lf("build", "-r", "requirements.txt", "--backend", "cross", "--json")
    document = failed_as_json(run, 1, *HOST_PINS, "layerforge lock -r requirements.in")
    problems = document["details"]["problems"]
    assert [p["requirement"] for p in problems] == list(HOST_PINS)
    for problem in problems:
        assert problem["problem"] == "no-wheel-for-target" and problem["newest_compatible"]
        pin = f"{problem['name']}=={problem['newest_compatible']}"
        assert pin in document["hint"]  # ready to pin, each one
        assert f"{problem['requirement']} (" in run.err  # and listed on the terminal
    assert problem["origin"].endswith("requirements.txt:4")
    assert "uv pip compile requirements.in --python-version 3.11" in run.err


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])  # pip+uv, then uv resolving
def test_two_tampered_hashes_are_both_named(lf: LF, work: Path, runtime: str) -> None:
    (work / "locked.txt").write_text(
        f"six==1.16.0 --hash=sha256:{'0' * 64}\nidna==3.7 --hash=sha256:{'1' * 64}\n"
    )
    run = lf("build", "-r", "locked.txt", "--backend", "cross", "--runtime", runtime, "--json")
    fragments = ("six==1.16.0", SIX_WHEEL_SHA256, "idna==3.7", IDNA_WHEEL_SHA256)
    document = failed_as_json(run, 1, "hash mismatch in 2 requirements", *fragments)
    assert [p["problem"] for p in document["details"]["problems"]] == ["hash-mismatch"] * 2


# -- over the budget ------------------------------------------------------------------------------


def test_over_the_budget_says_what_to_cut_and_keeps_the_last_good_layer(lf: LF, work: Path) -> None:
    good = lf("build", "six==1.17.0", "--backend", "cross", "-o", "dist/layer.zip")
    assert good.code == 0, good.describe()
    layer, manifest = work / "dist" / "layer.zip", work / "dist" / "layer.manifest.json"
    before = layer.read_bytes(), manifest.read_bytes()
    run = lf(
        "build",
        "numpy==2.2.6",
        "six==1.17.0",
        "--backend",
        "cross",
        "--max-unzipped",
        "30MiB",
        "-o",
        "dist/layer.zip",
        "--json",
    )
    report_file = "dist/layer.zip.over-budget.json"
    document = failed_as_json(run, 1, "over --max-unzipped 31,457,280", "numpy", report_file)
    details = document["details"]
    sizes = [d["unzipped_bytes"] for d in details["distributions"]]
    assert [d["name"] for d in details["distributions"]] == ["numpy", "six"]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) < details["unzipped_bytes"]
    assert abs(sum(d["share"] for d in details["distributions"]) - 1) < 0.001
    assert [s["name"] for s in details["steps"]] == ["prune", "strip", "record"]  # no bytecode
    assert {o["step"] for o in details["options"]} == {"bytecode", "strip", "prune"}
    assert details["ways_out"][0]["way"] == "split"
    assert "numpy 2.2.6" in run.err and "--no-bytecode saves about" in run.err
    assert (layer.read_bytes(), manifest.read_bytes()) == before
    kept = json.loads((work / report_file).read_text())
    assert kept == details
    assert sorted(p.name for p in (work / "dist").iterdir()) == [
        "layer.manifest.json",
        "layer.zip",
        "layer.zip.over-budget.json",
    ]


@pytest.mark.slow
def test_a_real_set_over_250_mb_fails_before_bytecode_and_names_the_image_path(
    lf: LF, work: Path
) -> None:
    run = lf(
        "build",
        "pyarrow",
        "polars",
        "duckdb",
        "--runtime",
        "python3.12",
        "--backend",
        "cross",
        "-o",
        "dist/layer.zip",
        "--json",
    )
    failed_cleanly(
        run,
        1,
        "over Lambda's 262,144,000-byte budget",
        "pyarrow",
        "build it as a container image (up to 10 GB): see README 'Past 250 MB'",
        bound=300,  # the wheels come from PyPI (some 100 MB); the build itself takes seconds
    )
    document = run.json()
    details = document["details"]
    assert [s["name"] for s in details["steps"]] == ["prune", "strip", "record"]
    assert details["unzipped_bytes"] > 262_144_000
    assert {"pyarrow", "duckdb"} <= {d["name"] for d in details["distributions"]}
    pyarrow = next(a for a in details["alternatives"] if a["distributions"] == ["pyarrow"])
    assert "fastparquet" in pyarrow["advice"] and pyarrow["sources"]
    assert not (work / "dist" / "layer.zip").exists()
