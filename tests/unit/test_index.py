"""PackageIndex against a real HTTP server on loopback serving PEP 691 JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from packaging.tags import Tag

from layerforge.builder.install.index import PackageIndex
from layerforge.errors import BuildError
from layerforge.runtimes import Architecture, get_runtime, supported_tags

FILES = [
    {"filename": "demo-1.0.tar.gz"},
    {"filename": "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"},
    {"filename": "demo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "yanked": "broken"},
    {"filename": "demo-2.1-cp311-cp311-manylinux_2_28_x86_64.whl"},
    {"filename": "demo-2.1.tar.gz"},
    {"filename": "demo-3.0-cp313-cp313-manylinux_2_17_x86_64.whl", "requires-python": ">=3.13"},
    {"filename": "demo-3.1rc1-py3-none-any.whl"},
    {"filename": "not-a-valid-name.whl"},
]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/simple/demo/":
            body = json.dumps({"meta": {"api-version": "1.0"}, "files": FILES}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        else:
            body = b"{}"
            self.send_response(404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def index_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def test_newest_release_and_newest_compatible_wheel(index_url: str) -> None:
    accepted = supported_tags(get_runtime("python3.11"), Architecture.X86_64)
    summary = PackageIndex(index_url).summarise("Demo", accepted, "3.11")
    # 2.0 is yanked, 3.0 needs Python 3.13, 3.1rc1 is a pre-release; 2.1 needs glibc 2.28
    assert str(summary.latest) == "2.1"
    assert str(summary.latest_compatible) == "1.0"


def test_glibc_234_runtime_takes_the_manylinux_2_28_wheel(index_url: str) -> None:
    accepted = supported_tags(get_runtime("python3.11"), Architecture.X86_64)
    wider = accepted | supported_tags(get_runtime("python3.12"), Architecture.X86_64)
    summary = PackageIndex(index_url).summarise("demo", frozenset(wider), "3.11")
    assert str(summary.latest_compatible) == "1.0"  # cp312 tags do not fit cp311 wheels
    with_228 = accepted | {Tag("cp311", "cp311", "manylinux_2_28_x86_64")}
    summary = PackageIndex(index_url).summarise("demo", frozenset(with_228), "3.11")
    assert str(summary.latest_compatible) == "2.1"


def test_unknown_project_has_no_releases(index_url: str) -> None:
    summary = PackageIndex(index_url).summarise("absent", frozenset(), "3.11")
    assert summary.latest is None and summary.latest_compatible is None


def test_unreachable_index_is_a_build_error_with_a_hint() -> None:
    index = PackageIndex("http://127.0.0.1:9/simple", timeout=5)
    with pytest.raises(BuildError) as caught:
        index.summarise("demo", frozenset(), "3.11")
    assert caught.value.hint is not None and "--index-url" in caught.value.hint


def test_drift_that_cannot_be_asked_is_a_warning_from_its_own_process() -> None:
    from layerforge.builder.install.drift import DriftCheck
    from layerforge.builder.result import ResolvedDistribution

    installed = [
        ResolvedDistribution("six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl", None, True)
    ]
    check = DriftCheck(
        ["six"],
        index_url="http://127.0.0.1:9/simple",  # loopback, nothing listens: refused at once
        runtime="python3.11",
        architecture="x86_64",
    )
    drift, seconds, warning = check.result(installed)
    assert drift == [] and seconds >= 0
    assert warning is not None and warning.startswith("drift not checked: cannot query")
    assert check.worker.process.poll() is not None  # the worker is gone


def test_drift_time_counts_questions_in_flight_not_the_waits_between() -> None:
    from layerforge.builder.install.drift import _busy

    assert _busy([]) == 0
    assert _busy([(0.0, 1.0), (0.5, 1.5), (3.0, 4.0)]) == 2.5  # overlap counted once, gap not
