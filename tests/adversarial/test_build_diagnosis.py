"""A failed resolution names its real cause: a version that does not exist, conflicting pins, a
tampered hash, an unreachable index, an index that speaks only HTML."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_cleanly

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
