"""The font list the seed layer ships, proven in the Lambda-like sandbox (the layer read-only at
/opt, a fresh tmpfs /tmp): a cold start of the payload does not build the list, matplotlib's own
cold start builds the same one (order aside), and the payload's figure is the same PNG."""

from __future__ import annotations

import json
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from layerforge.events import Event
from layerforge.functions import bundled_function
from layerforge.runtimes import Architecture, get_runtime
from layerforge.sandbox import SandboxSpec, open_sandbox
from layerforge.sandbox.bwrap import bwrap_available
from tests.conftest import sandbox_required

pytestmark = [pytest.mark.slow]

FONT_LIST = "fontlist-v330.json"  # matplotlib 3.8.4's

#: A cold start watched from inside: the handler's import as on Lambda (the payload's own
#: configure_headless), or none (a fresh MPLCONFIGDIR, nothing seeded); then what matplotlib
#: logged on its font manager's logger while importing pyplot, what its config folder held
#: before and after, and the payload's figure.
PROBE = """
import hashlib, logging, os


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def cold_start(event, context):
    kept = Kept()
    logger = logging.getLogger("matplotlib.font_manager")
    logger.setLevel(logging.INFO)
    logger.addHandler(kept)
    tmp = sorted(os.listdir("/tmp"))
    if event.get("snippet"):  # the lines the README gives a user's handler
        os.environ["MPLBACKEND"] = "Agg"
        exec(event["snippet"], {})
        headless = None
    elif event["seeded"]:
        from analytics_payload import handler  # configure_headless(), as the payload imports
        headless = handler._HEADLESS
    else:
        os.environ["MPLCONFIGDIR"] = "/tmp/unseeded"
        os.environ["MPLBACKEND"] = "Agg"
        os.makedirs("/tmp/unseeded")
        headless = None
    config = os.environ["MPLCONFIGDIR"]

    def held():
        return {n: open(os.path.join(config, n)).read() for n in sorted(os.listdir(config))}

    before = sorted(held())
    import matplotlib.pyplot
    from analytics_payload import analysis

    png = analysis.render_figure(analysis.generate(3000, seed=4), seed=4)
    return {
        "tmp": tmp,
        "headless": headless,
        "messages": kept.messages,
        "before": before,
        "after": held(),
        "png": hashlib.sha256(png).hexdigest(),
    }
"""


@dataclass(frozen=True)
class ColdStarts:
    """What the probe saw in one engine's sandbox, in the order it ran."""

    engine: str
    seeded: dict[str, Any]  # the payload's own setup, a fresh /tmp
    unseeded: dict[str, Any]  # nothing copied in: matplotlib builds its list
    readme: dict[str, Any]  # the README's lines for a user's handler


def _ignore(_event: Event) -> None:
    return None


def _engine_ready(engine: str, request: pytest.FixtureRequest) -> str | None:
    """The image for docker (None for bwrap), or the test is skipped (failed under CI)."""
    if engine == "docker":
        return str(request.getfixturevalue("lambda_image"))
    if bwrap_available() is None:
        if sandbox_required():
            pytest.fail("bwrap is required here (scripts/test.sh installs it)")
        pytest.skip("needs bubblewrap")
    return None


@pytest.fixture(scope="module", params=["docker", "bwrap"])
def cold_starts(
    request: pytest.FixtureRequest,
    seed_build: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ColdStarts]:
    """One sandbox per engine: the payload's cold start first (a fresh /tmp), then one with
    nothing copied in and one with the README's lines (each a fresh config folder)."""
    engine = str(request.param)
    image = _engine_ready(engine, request)
    code = bundled_function().stage(tmp_path_factory.mktemp("function"))
    (code / "probe.py").write_text(PROBE)
    (code / "probe.py").chmod(0o644)
    spec = SandboxSpec(
        runtime=get_runtime("python3.11"), architecture=Architecture.X86_64, image=image
    )
    layer = Path(seed_build["output"])
    with open_sandbox(layer, spec, code=code, engine=engine, sink=_ignore) as sandbox:
        seeded = sandbox.invoke("probe.cold_start", {"seeded": True})
        unseeded = sandbox.invoke("probe.cold_start", {"seeded": False})
        readme = sandbox.invoke("probe.cold_start", {"snippet": _readme_lines()})
    for invocation in (seeded, unseeded, readme):
        assert invocation.succeeded, invocation.logs
    yield ColdStarts(engine, seeded.result, unseeded.result, readme.result)


def _readme_lines() -> str:
    """The README's lines for a user's handler, with a config folder of their own here."""
    readme = (Path(__file__).parents[3] / "README.md").read_text("utf-8")
    block = next(b for b in readme.split("```python")[1:] if ".layerforge/matplotlib" in b)
    return textwrap.dedent(block.split("```")[0]).replace("/tmp/matplotlib", "/tmp/readme")


def _shipped(seed_build: dict[str, Any]) -> str:
    with zipfile.ZipFile(seed_build["output"]) as archive:
        return archive.read(f"python/.layerforge/matplotlib/{FONT_LIST}").decode()


def test_a_cold_start_with_a_fresh_tmp_reads_the_shipped_list_and_builds_none(
    cold_starts: ColdStarts, seed_build: dict[str, Any]
) -> None:
    seeded = cold_starts.seeded
    assert seeded["tmp"] == []  # a fresh /tmp, as at a Lambda cold start
    assert seeded["headless"]["font_list"] == FONT_LIST
    assert seeded["headless"]["mplconfigdir"] == "/tmp/matplotlib"
    assert seeded["before"] == [FONT_LIST]  # the payload copied it before matplotlib loaded
    assert "generated new fontManager" not in seeded["messages"], seeded["messages"]
    assert seeded["after"] == {FONT_LIST: _shipped(seed_build)}  # read, never rewritten


def test_without_it_matplotlib_builds_the_same_list_and_draws_the_same_figure(
    cold_starts: ColdStarts, seed_build: dict[str, Any]
) -> None:
    seeded, unseeded = cold_starts.seeded, cold_starts.unseeded
    assert unseeded["before"] == []
    assert "generated new fontManager" in unseeded["messages"]  # what the probe would see
    shipped, built = json.loads(_shipped(seed_build)), json.loads(unseeded["after"][FONT_LIST])
    no_fonts_of_its_own = cold_starts.engine == "docker"  # the runtime image, as Lambda
    for kind in ("ttflist", "afmlist"):
        ours = {json.dumps(e, sort_keys=True) for e in shipped[kind]}
        theirs = {json.dumps(e, sort_keys=True) for e in built[kind]}
        if no_fonts_of_its_own:
            assert ours == theirs
        else:  # bwrap shows the host's /usr: its fonts, by absolute path, come in addition
            assert ours <= theirs
            assert all(json.loads(e)["fname"].startswith("/usr/") for e in theirs - ours)
    assert {k: v for k, v in shipped.items() if not k.endswith("list")} == {
        k: v for k, v in built.items() if not k.endswith("list")
    }
    assert seeded["png"] == unseeded["png"]  # the same figure, byte for byte


def test_the_readme_lines_do_the_same_for_a_users_handler(
    cold_starts: ColdStarts, seed_build: dict[str, Any]
) -> None:
    seeded, readme = cold_starts.seeded, cold_starts.readme
    assert readme["before"] == [FONT_LIST]
    assert "generated new fontManager" not in readme["messages"], readme["messages"]
    assert readme["after"] == {FONT_LIST: _shipped(seed_build)}
    assert readme["png"] == seeded["png"]
