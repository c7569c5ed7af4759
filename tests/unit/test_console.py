"""Output that is not a terminal is written without rich (it is not even loaded), exactly as a
rich console would write it there: the same JSON, the same lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from layerforge.console import PlainOutput
from layerforge.console.text import styled

DOCUMENT = {"name": "zoë", "nested": {"list": [1, 2.5, None, True], "empty": {}}, "z": "[b]x[/b]"}


def _rich(render: str, value: object) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, soft_wrap=True, highlight=False)
    if render == "json":
        console.print_json(str(value), highlight=False)
    else:
        console.print(value)
    return buffer.getvalue()


def test_json_and_styled_lines_match_what_rich_writes(capsys: pytest.CaptureFixture[str]) -> None:
    plain = PlainOutput(stderr=False)
    plain.print_json(json.dumps(DOCUMENT))
    assert capsys.readouterr().out == _rich("json", json.dumps(DOCUMENT))
    line = styled(("ERROR ", "bold red"), "six[extra] is [not] markup")
    plain.print(line)
    assert capsys.readouterr().out == _rich("text", line) == "ERROR six[extra] is [not] markup\n"


def test_a_json_command_never_loads_rich(tmp_path: Path) -> None:
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("python/mod.py", "x = 1\n")
    probe = (
        "import sys; from layerforge.cli import main; code = main(sys.argv[1:]); "
        "print('rich' in sys.modules, code, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "verify-abi", str(layer), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(done.stdout)["passed"] is True
    assert done.stderr.strip().splitlines()[-1] == "False 0"
