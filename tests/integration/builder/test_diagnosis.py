"""A failed build names every problem at once: every pin with no wheel for the target (with the
newest that fits), every hash mismatch, every source-only pin; a build over its budget names
every distribution's size, what each step saves or costs, and the ways out.

The sources are real: a PEP 691 index on loopback (for cases PyPI cannot be relied on to
show), PyPI itself, pip as the independent judge of what fits, and real builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from layerforge.builder import build_layer
from layerforge.builder.install.diagnosis import (
    PinProblem,
    Problem,
    diagnose_failure,
    find_problems,
    problems_error,
)
from layerforge.builder.install.index import Sources
from layerforge.builder.install.target import PipTarget
from layerforge.builder.post.budget import (
    Budget,
    LayerSizes,
    bytecode_size,
    over_budget_error,
    over_budget_report,
)
from layerforge.builder.request import BackendChoice as Backend
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import StepReport
from layerforge.errors import (
    BudgetExceededError,
    CheckFailedError,
    NoCompatibleWheelError,
    UsageError,
)
from layerforge.events import Event, EventKind
from layerforge.inputs import InputRequirement, Inputs
from layerforge.runtimes import Architecture, get_runtime

PY311 = PipTarget(get_runtime("python3.11"), Architecture.X86_64)
PY312 = PipTarget(get_runtime("python3.12"), Architecture.X86_64)
LINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def _sha(character: str) -> str:
    return character * 64


#: project -> its files, as a PEP 691 index lists them
PROJECTS: dict[str, list[dict[str, object]]] = {
    "demo": [
        {"filename": f"demo-1.0-{LINUX}", "hashes": {"sha256": _sha("a")}},
        {"filename": "demo-1.0-cp311-cp311-macosx_11_0_arm64.whl", "hashes": {"sha256": _sha("c")}},
        {
            "filename": "demo-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
            "hashes": {"sha256": _sha("b")},
        },
        {"filename": "demo-2.0.tar.gz", "hashes": {"sha256": _sha("9")}},
    ],
    "srconly": [{"filename": "srconly-1.0.tar.gz", "hashes": {"sha256": _sha("1")}}],
    "hashed": [{"filename": "hashed-1.0-py3-none-any.whl", "hashes": {"sha256": _sha("d")}}],
    "gone": [{"filename": "gone-1.0-py3-none-any.whl", "yanked": "broken", "hashes": {}}],
    "other": [{"filename": "other-1.0-py3-none-any.whl", "hashes": {"sha256": _sha("f")}}],
}


class _Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        project = self.path.strip("/").split("/")[-1]
        files = PROJECTS.get(project)
        body = json.dumps({"meta": {"api-version": "1.0"}, "files": files or []}).encode()
        self.send_response(200 if files is not None else 404)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture(scope="module")
def index_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def _inputs(*lines: str | tuple[str, str], constraints: tuple[str, ...] = ()) -> Inputs:
    items = []
    for number, line in enumerate(lines, 1):
        text, digest = line if isinstance(line, tuple) else (line, "")
        hashes = (f"sha256:{digest}",) if digest else ()
        items.append(InputRequirement(text, hashes, f"requirements.txt:{number}"))
    pinned = tuple(InputRequirement(c, origin="constraints.txt:1") for c in constraints)
    return Inputs(requirements=tuple(items), constraints=pinned)


def _problems(index_url: str, inputs: Inputs, target: PipTarget = PY311) -> list[PinProblem]:
    problems, unchecked = find_problems(inputs, target, sources=Sources(index_url))
    assert unchecked == []
    return problems


def test_every_kind_of_problem_is_found_in_one_pass(index_url: str) -> None:
    inputs = _inputs(
        "demo==2.0",  # wheels, but only for glibc 2.28 and macOS
        "srconly==1.0",  # an sdist only
        ("hashed==1.0", _sha("e")),  # the index's file has another sha256
        "absent==1.0",
        "gone==1.0",  # yanked, but pinned exactly: pip installs it
        "other[extra]>=5",  # no such release
        "demo>=1",  # demo again: its first spelling is the one asked about
    )
    found = {p.requirement: p for p in _problems(index_url, inputs)}
    assert [p.problem for p in found.values()] == [
        Problem.NO_WHEEL,
        Problem.SOURCE_ONLY,
        Problem.HASH_MISMATCH,
        Problem.NO_PROJECT,
        Problem.NO_RELEASE,
    ]
    assert found["other[extra]>=5"].newest == "1.0"
    assert found["demo==2.0"].newest_compatible == "1.0" and found["demo==2.0"].newest == "2.0"
    assert found["demo==2.0"].origin == "requirements.txt:1"
    assert found["srconly==1.0"].newest_compatible is None
    assert found["hashed==1.0"].files == (("hashed-1.0-py3-none-any.whl", _sha("d")),)


def test_a_hash_of_another_platforms_file_is_a_mismatch_for_this_one(index_url: str) -> None:
    macos_only = _problems(index_url, _inputs(("demo==1.0", _sha("c"))))
    assert [(p.problem, p.files) for p in macos_only] == [
        (Problem.HASH_MISMATCH, ((f"demo-1.0-{LINUX}", _sha("a")),))
    ]
    assert _problems(index_url, _inputs(("demo==1.0", _sha("a")))) == []


def test_what_glibc_234_accepts_is_no_problem_there(index_url: str) -> None:
    # cp311 wheels do not fit python3.12, so demo has no wheel there at all
    problems = _problems(index_url, _inputs("demo==2.0"), PY312)
    assert [(p.problem, p.newest_compatible) for p in problems] == [(Problem.NO_WHEEL, None)]


def test_only_pinning_constraints_are_asked_about(index_url: str) -> None:
    inputs = _inputs("hashed", constraints=("demo==2.0", "srconly<2"))
    problems = _problems(index_url, inputs)
    assert [(p.requirement, p.origin) for p in problems] == [
        ("demo==2.0", "constraints.txt:1, a constraint")
    ]


def test_a_find_links_folder_is_a_source(index_url: str, tmp_path: Path) -> None:
    (tmp_path / "private-1.0-py3-none-any.whl").write_bytes(b"")
    sources = Sources(index_url, find_links=[str(tmp_path)])
    problems, _ = find_problems(_inputs("private==1.0"), PY311, sources=sources)
    assert problems == []


def test_an_unreachable_source_leaves_the_pin_unchecked() -> None:
    sources = Sources("http://127.0.0.1:9/simple", timeout=5)
    problems, unchecked = find_problems(_inputs("demo==2.0"), PY311, sources=sources)
    assert problems == [] and len(unchecked) == 1 and unchecked[0].startswith("demo: ")


def test_one_error_for_every_problem_and_its_exit_code(index_url: str) -> None:
    problems = _problems(index_url, _inputs("demo==2.0", "srconly==1.0", "absent==1.0"))
    first = NoCompatibleWheelError("no wheel of demo==2.0 fits", hint="pin demo<=1.0")
    error = problems_error(problems, PY311, first=first, output="pip's output")
    assert isinstance(error, NoCompatibleWheelError) and error.exit_code == 1
    assert all(name in error.message for name in ("demo==2.0", "srconly==1.0", "absent==1.0"))
    assert error.hint is not None and "layerforge lock -r requirements.in" in error.hint
    assert "demo==1.0" in error.hint  # the newest that fits, ready to pin
    document = error.to_dict()
    details: dict[str, Any] = document["details"]  # type: ignore[assignment]
    assert [p["problem"] for p in details["problems"]] == [
        "no-wheel-for-target",
        "source-only",
        "no-such-project",
    ]
    assert details["lock"]["uv_exact"] is False  # Amazon Linux 2: uv names no glibc 2.26
    assert "--python-platform x86_64-manylinux_2_17" in details["lock"]["uv_command"]
    assert details["output"] == "pip's output"
    assert "uv pip compile" in details["text"]
    usage = problems_error(problems[2:], PY311, first=UsageError("no project named 'absent'"))
    assert isinstance(usage, UsageError) and usage.exit_code == 2


def test_hash_mismatches_alone_are_a_failed_check(index_url: str) -> None:
    problems = _problems(index_url, _inputs(("hashed==1.0", _sha("e")), ("demo==1.0", _sha("c"))))
    error = problems_error(problems, PY311, first=CheckFailedError("hash mismatch: hashed==1.0"))
    assert type(error) is CheckFailedError and error.message.startswith("hash mismatch in 2")
    assert _sha("d") in error.message and _sha("a") in error.message
    assert (
        error.hint is not None and "re-lock" in error.hint and "layerforge lock" not in error.hint
    )


def test_the_installer_is_trusted_when_the_sources_disagree(
    index_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    first = NoCompatibleWheelError("no wheel of hashed==1.0 fits", hint="its own hint")
    # the index offers hashed 1.0 for every platform, so pip saw something else: keep its words
    inputs = _inputs("hashed==1.0", "srconly==1.0")
    kept = diagnose_failure(first, named="hashed==1.0", target=PY311, inputs=inputs, output="")
    assert kept is first


# -- against PyPI -------------------------------------------------------------------------------

#: Resolved on a developer's machine (glibc 2.36): none of these has a glibc 2.26 wheel.
HOST_PINS = ("contourpy==1.3.3", "numpy==2.4.6", "pillow==13.0.0", "pyarrow==26.0.1")


def _pip_resolves(target: PipTarget, requirements: list[str], folder: Path) -> bool:
    """pip itself (no layerforge judgement) resolves ``requirements`` for the target."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-deps",
            "--target",
            str(folder),
            "--disable-pip-version-check",
            *target.arguments(),
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.network
def test_a_host_lock_names_every_pin_and_pip_takes_the_versions_offered(tmp_path: Path) -> None:
    problems, unchecked = find_problems(_inputs(*HOST_PINS, "six==1.17.0"), PY311)
    assert unchecked == []
    assert [p.requirement for p in problems] == list(HOST_PINS)
    assert {p.problem for p in problems} == {Problem.NO_WHEEL}
    offered = [f"{p.name}=={p.newest_compatible}" for p in problems]
    assert _pip_resolves(PY311, offered, tmp_path / "fits")
    assert not any(_pip_resolves(PY311, [pin], tmp_path / "host") for pin in HOST_PINS[:1])


# -- over the budget: real builds ---------------------------------------------------------------

BUDGET_PINS = ("numpy==2.2.6",)


def _spec(output: Path, **changes: Any) -> LayerSpec:
    spec = LayerSpec(
        inputs=Inputs(requirements=tuple(InputRequirement(p) for p in BUDGET_PINS)),
        runtime=get_runtime("python3.11"),
        architecture=Architecture.X86_64,
        backend=Backend.CROSS,
        output=output,
    )
    return replace(spec, **changes)


@pytest.fixture(scope="module")
def good_layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """numpy built once, in place: the last good layer every failing build must leave alone
    (the module's builds share a private cache)."""
    folder = tmp_path_factory.mktemp("budget")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERFORGE_CACHE_DIR", str(folder / "cache"))
        result = build_layer(_spec(folder / "out" / "layer.zip"))
        yield Path(result.output), json.loads(Path(result.manifest).read_text())


def _rejected(spec: LayerSpec) -> tuple[BudgetExceededError, list[Event]]:
    events: list[Event] = []
    with pytest.raises(BudgetExceededError) as caught:
        build_layer(spec, on_event=events.append)
    return caught.value, events


def _steps_started(events: list[Event]) -> set[str]:
    return {e.step for e in events if e.kind is EventKind.STARTED}


def _steps_finished(events: list[Event]) -> set[str]:
    return {e.step for e in events if e.kind is EventKind.FINISHED}


@pytest.mark.network
@pytest.mark.slow
def test_a_tree_over_the_budget_stops_before_bytecode_and_zip(
    good_layer: tuple[Path, dict[str, Any]],
) -> None:
    layer, manifest = good_layer
    before = layer.read_bytes(), layer.with_name("layer.manifest.json").read_bytes()
    bytecode = -next(s for s in manifest["steps"] if s["name"] == "bytecode")["bytes_saved"]
    without_bytecode = manifest["unzipped_bytes"] - bytecode
    error, events = _rejected(_spec(layer, use_cache=False, max_unzipped=without_bytecode - 1))
    report: dict[str, Any] = error.to_dict()["details"]  # type: ignore[assignment]
    assert "zip" not in _steps_started(events) and "bytecode" not in _steps_finished(events)
    assert [s["name"] for s in report["steps"]] == ["prune", "strip", "record"]
    assert report["measured"] == "after install, prune and strip, before bytecode and zip"
    assert sum(d["unzipped_bytes"] for d in report["distributions"]) == without_bytecode
    numpy = report["distributions"][0]
    assert (numpy["name"], numpy["version"]) == ("numpy", "2.2.6") and numpy["share"] > 0.9
    option = next(o for o in report["options"] if o["step"] == "bytecode")
    assert option["estimated"] and option["cold_import_seconds"] > 0 and option["source"]
    assert report["unzipped_bytes"] == without_bytecode - option["bytes_saved"]
    assert "--max-unzipped" in error.message and "numpy" in error.message
    assert (layer.read_bytes(), layer.with_name("layer.manifest.json").read_bytes()) == before
    kept = Path(report["report_file"])
    assert kept == layer.with_name("layer.zip.over-budget.json") and str(kept) in (error.hint or "")
    assert json.loads(kept.read_text()) == report


@pytest.mark.network
@pytest.mark.slow
def test_bytecode_that_tips_it_over_fails_exactly_before_the_zip(
    good_layer: tuple[Path, dict[str, Any]],
) -> None:
    layer, manifest = good_layer
    error, events = _rejected(
        _spec(layer, use_cache=False, max_unzipped=manifest["unzipped_bytes"] - 1)
    )
    report: dict[str, Any] = error.to_dict()["details"]  # type: ignore[assignment]
    assert "bytecode" in _steps_finished(events) and "zip" not in _steps_started(events)
    assert report["measured"] == "after bytecode, before zip" and report["over_by"] == 1
    # the same numbers as the manifest of the layer these inputs make
    assert report["unzipped_bytes"] == manifest["unzipped_bytes"]
    sizes = {d["name"]: d["unzipped_bytes"] for d in report["distributions"]}
    assert sizes == {p["name"]: p["unzipped_bytes"] for p in manifest["packages"]}
    option = next(o for o in report["options"] if o["step"] == "bytecode")
    bytecode = next(s for s in manifest["steps"] if s["name"] == "bytecode")
    assert not option["estimated"] and option["bytes_saved"] == bytecode["bytes_saved"]
    assert "within the budget" in option["advice"]  # --no-bytecode would fit
    # a good build to the same output removes the stale report
    assert Path(report["report_file"]).is_file()
    build_layer(_spec(layer))
    assert not Path(report["report_file"]).exists()


@pytest.mark.network
@pytest.mark.slow
def test_a_cached_build_over_a_lower_budget_is_reported_too(
    good_layer: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    _layer, manifest = good_layer
    error, events = _rejected(_spec(tmp_path / "l.zip", max_unzipped=10_000_000))
    assert any(e.step == "cache" for e in events) and "resolve" not in _steps_started(events)
    report: dict[str, Any] = error.to_dict()["details"]  # type: ignore[assignment]
    assert report["unzipped_bytes"] == manifest["unzipped_bytes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.zip.over-budget.json"]


# -- the over-budget report, from sizes a build knows ---------------------------------------------


def _budget_spec(**changes: Any) -> LayerSpec:
    return _spec(Path("dist/layer.zip"), **changes)


SIZES = LayerSizes(
    distributions={"nvidia-cublas-cu12": 200_000_000, "torch": 90_000_000, "boto3": 1_000_000},
    versions={"nvidia-cublas-cu12": "12.4.5", "torch": "2.5.1", "boto3": "1.35.0"},
    source_bytes=20_000_000,
    shared_library_bytes=250_000_000,
    largest=[("nvidia/cublas/lib/libcublasLt.so.12", 150_000_000, "nvidia-cublas-cu12")],
)


def test_a_report_names_what_each_step_would_change_and_the_ways_out() -> None:
    spec = _budget_spec(strip_binaries=False)
    steps = [StepReport("prune", 5_000_000, 10)]
    report = over_budget_report(spec, Budget.of(spec), SIZES, steps, compiles=True)
    estimate = bytecode_size().estimate(SIZES.source_bytes)
    assert report.unzipped_bytes == SIZES.known + estimate  # bytecode not compiled yet
    assert [(d.name, d.share) for d in report.distributions][:2] == [
        ("nvidia-cublas-cu12", 0.6873),
        ("torch", 0.3093),
    ]
    options = {o.step: o for o in report.options}
    assert options["bytecode"].estimated and options["bytecode"].bytes_saved == -estimate
    assert "still" in options["bytecode"].advice  # --no-bytecode alone would not fit
    assert not options["strip"].enabled and options["strip"].bytes_saved > 0
    assert options["strip"].source and options["prune"].bytes_saved == 5_000_000
    matched = [a["distributions"] for a in report.alternatives]
    assert matched == [["nvidia-cublas-cu12"], ["boto3"]]  # largest first; torch has none
    assert all(a["sources"] for a in report.alternatives)
    assert [w["way"] for w in report.ways_out] == ["split", "container_image"]
    error = over_budget_error(report)
    assert (
        "Lambda's 262,144,000-byte budget" in error.message
        and "(bytecode estimated)" in error.message
    )
    assert error.hint is not None and "see README 'Past 250 MB'" in error.hint
    assert "every size is in" not in error.hint  # no report file was written


def test_under_lambdas_budget_the_image_path_is_not_offered() -> None:
    spec = _budget_spec(max_unzipped=100_000_000, compile_bytecode=False)
    small = replace(SIZES, distributions={"torch": 150_000_000})
    report = over_budget_report(
        spec, Budget.of(spec), small, [], compiles=False, unzipped=150_000_000
    )
    assert report.budget_name == "--max-unzipped 100,000,000" and report.over_by == 50_000_000
    assert [w["way"] for w in report.ways_out] == ["split"]
    assert report.measured == "after bytecode, before zip"
    bytecode = next(o for o in report.options if o.step == "bytecode")
    assert not bytecode.enabled and "--no-bytecode" in bytecode.advice
