"""layerforge build with bad input: every case fails fast, clearly, and changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly

pytestmark = pytest.mark.adversarial


def _file(work: Path, name: str, content: str | bytes) -> Path:
    path = work / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["numpy>=>1"], 2, "cannot parse requirement 'numpy>=>1'"),
        (["--runtime", "python3.99"], 2, "unknown runtime 'python3.99'"),
        (["--arch", "sparc"], 2, "unknown architecture 'sparc'"),
        (["--max-unzipped", "lots"], 2, "is not a size"),
        (["--backend", "podman"], 2, "podman"),
        (["--index-url", "not a url"], 2, "is not a URL"),
        (
            ["--runtime", "python3.9", "--arch", "x86_64", "--output", "a.zip", "--output"],
            2,
            "requires an argument",
        ),
        (["--no-such-flag"], 2, "no such option"),
        (["./not-here/pkg-1.0.tar.gz"], 2, "source archive"),
        (["docopt @ https://files.example.invalid/docopt-0.6.2.tar.gz"], 2, "source archive"),
        (["git+https://github.com/docopt/docopt.git"], 2, "VCS requirement"),
    ],
)
def test_bad_flags_and_requirements(lf: LF, argv: list[str], code: int, fragment: str) -> None:
    failed_cleanly(lf("build", *argv), code, fragment, bound=15)


def test_usage_errors_are_json_documents_with_json(lf: LF) -> None:
    document = failed_as_json(lf("build", "--runtime", "python3.99", "--json"), 2)
    assert "python3.99" in document["error"]
    failed_as_json(lf("build", "numpy>=>1", "--json"), 2, "numpy>=>1")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "no requirements"),
        ("# nothing but a comment\n", "no requirements"),
        (bytes(range(256)) * 8, "not a text file"),
        ("-e ./local\n", "editable"),
        ("--no-binary :all:\nsix\n", "--no-binary"),
        ("six ; python_version < '2'\n", "no requirements"),
        ("six\n-r absent.txt\n", "no such file"),
        ("-r self.txt\nsix\n", "include each other"),
        ("not a ! requirement\n", "cannot parse"),
    ],
)
def test_bad_requirements_files(lf: LF, work: Path, content: str | bytes, fragment: str) -> None:
    _file(work, "self.txt", content)
    failed_cleanly(lf("build", "-r", "self.txt"), 2, fragment, bound=15)


def test_missing_and_special_requirements_files(lf: LF, work: Path) -> None:
    failed_cleanly(lf("build", "-r", "absent.txt"), 2, "no such file", bound=15)
    os.mkfifo(work / "fifo.txt")
    failed_cleanly(lf("build", "-r", "fifo.txt"), 2, "not a regular file", bound=15)
    failed_cleanly(lf("build", "-r", str(work)), 2, "not a regular file", bound=15)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ('strip = "maybe"', "is not a boolean"),
        ("max-unzipped = true", "is not a size"),
        ("requirements = 5", "not a string or a list"),
        ("output = 5", "output"),
        ("extra-index-urls = 7", "extra-index-urls"),
        ("runtmie = 'python3.11'", "did you mean 'runtime'"),
        ('arch = "sparc"', "unknown architecture"),
    ],
)
def test_bad_settings(lf: LF, work: Path, settings: str, fragment: str) -> None:
    _file(work, "pyproject.toml", f"[tool.layerforge]\n{settings}\n")
    failed_cleanly(lf("build"), 2, fragment, "pyproject.toml", bound=15)


def test_broken_or_odd_pyproject(lf: LF, work: Path) -> None:
    _file(work, "pyproject.toml", "tool = 5\n")
    failed_cleanly(lf("build"), 2, "'tool' must be a table", bound=15)
    _file(work, "pyproject.toml", "[tool.layerforge\n")
    failed_cleanly(lf("build"), 2, "cannot read", bound=15)
    failed_cleanly(lf("build", "--config", "absent.toml"), 2, "no such file", bound=15)


def test_python_that_is_not_the_runtimes(lf: LF) -> None:
    failed_cleanly(
        lf("build", "six==1.16.0", "--backend", "cross", "--python", "/bin/ls"),
        2,
        "not a working Python",
        bound=30,
    )
    failed_cleanly(
        lf(
            "build",
            "six==1.16.0",
            "--backend",
            "cross",
            "--runtime",
            "python3.12",
            "--python",
            "/usr/bin/python3.11",
        ),
        2,
        "the runtime needs 3.12",
        bound=30,
    )


def test_output_that_cannot_be_written(lf: LF, work: Path) -> None:
    _file(work, "afile", "x")
    failed_cleanly(
        lf("build", "six==1.16.0", "--backend", "cross", "-o", "afile/layer.zip"),
        2,
        "is not a folder",
        bound=15,
    )
    (work / "dist" / "layer.manifest.json").mkdir(parents=True)
    failed_cleanly(
        lf("build", "six==1.16.0", "--backend", "cross", "-o", "dist/layer.zip"),
        2,
        "a folder of that name exists",
        bound=15,
    )
    assert not (work / "dist" / "layer.zip").exists()


def test_output_in_a_read_only_folder(lf: LF, work: Path, nobody: int) -> None:
    folder = work / "readonly"
    folder.mkdir(mode=0o555)
    folder.chmod(0o555)
    failed_cleanly(
        lf("build", "six==1.16.0", "--backend", "cross", "-o", "readonly/l.zip", user=nobody),
        2,
        "cannot write the layer",
        bound=15,
    )
    assert list(folder.iterdir()) == []


def test_a_scratch_folder_that_is_not_one_is_a_usage_error(lf: LF, work: Path) -> None:
    (work / "a-file").write_text("")
    for scratch in (work / "absent", work / "a-file"):
        run = lf("build", "six==1.16.0", "--no-cache", env={"LAYERFORGE_SCRATCH": str(scratch)})
        failed_cleanly(run, 2, "is not a folder", bound=15)
    assert not (work / "absent").exists()
