"""The error boundary: a bug is one ERROR line with a log file, text is never markup, CI logs get
plain lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerforge.cli import main
from tests.adversarial.conftest import LF, failed_cleanly

pytestmark = pytest.mark.adversarial

BUG = (
    "import layerforge.builder.pipeline as pipeline\n"
    "def broken(*args, **kwargs):\n"
    "    return {}['no such key']\n"
    "pipeline.check_output = broken\n"
    "from layerforge.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def _with_a_bug(
    tmp: Path, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + BUG, *argv],
        capture_output=True,
        check=False,
        text=True,
        cwd=tmp,
        timeout=60,
        env={**os.environ, "XDG_STATE_HOME": str(tmp / "state"), **(env or {})},
    )


def test_a_bug_is_one_error_line_with_its_log_and_exit_4(tmp_path: Path) -> None:
    done = _with_a_bug(tmp_path, "build", "six")
    assert done.returncode == 4
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == ["ERROR internal error (a bug in layerforge 0.1.0): KeyError: 'no such key'"]
    assert "Traceback" not in done.stderr
    (log,) = (tmp_path / "state" / "layerforge").glob("crash-*.log")
    assert str(log) in done.stderr and "please report it" in done.stderr
    assert "Traceback (most recent call last)" in log.read_text() and "broken" in log.read_text()


def test_debug_shows_the_traceback_instead(tmp_path: Path) -> None:
    for env, argv in (
        ({}, ["build", "six", "--debug"]),
        ({"LAYERFORGE_DEBUG": "1"}, ["build", "six"]),
    ):
        done = _with_a_bug(tmp_path, *argv, env=env)
        assert done.returncode == 4
        assert "Traceback (most recent call last)" in done.stderr and "KeyError" in done.stderr


def test_a_bug_with_json_is_a_json_document(tmp_path: Path) -> None:
    import json

    done = _with_a_bug(tmp_path, "build", "six", "--json")
    document = json.loads(done.stdout)
    assert document["exit_code"] == 4 and "bug in layerforge" in document["error"]


def test_brackets_in_messages_paths_and_requirements_are_kept(lf: LF, work: Path) -> None:
    (work / "pyproject.toml").write_text("[tool.layerforge]\nbogus = 1\n")
    run = lf("build")
    failed_cleanly(run, 2, "unknown setting 'bogus' in [tool.layerforge]", bound=15)
    failed_cleanly(lf("verify-abi", "no[/]such[bold].zip"), 2, "no[/]such[bold].zip", bound=15)


def test_cli_can_be_called_in_process_without_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["verify-abi"]) == 2
    captured = capsys.readouterr()
    assert (
        "ERROR missing argument" in captured.err
        and "hint: see 'layerforge verify-abi" in captured.err
    )


@pytest.mark.network
def test_logs_that_are_not_a_terminal_get_one_plain_line_per_step(lf: LF) -> None:
    run = lf("build", "six==1.16.0", "--backend", "cross", "-o", "six.zip")
    assert run.code == 0, run.describe()
    for title in (
        "Resolving and installing wheels",
        "Writing the deterministic zip",
        "Putting the layer in place",
    ):
        started = [line for line in run.err.splitlines() if f"{title} ..." in line]
        done = [line for line in run.err.splitlines() if f"{title} done in" in line]
        assert len(started) == 1 and len(done) == 1, run.err
    assert max(len(line) for line in run.out.splitlines()) > 80  # not cut at 80 columns
    assert "\x1b[" not in run.err  # no cursor movement, no redrawn bars
