"""layerforge build with bad input: every case fails fast, clearly, and changes nothing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly
from tests.adversarial.harness import Run

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
        ("max-unzipped = true", "[tool.layerforge].max-unzipped: expected a size"),
        ("requirements = 5", "[tool.layerforge].requirements: expected a requirement"),
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
    failed_cleanly(lf("build"), 2, "[tool]: expected a table, got 5", bound=15)
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


# -- every document layerforge reads, against its schema: exit 2 naming the key, never a crash --

_HUGE = "x" * 200_000
_DEEP = "[" * 50_000 + "]" * 50_000

#: (file name, content, the key path the ERROR line names)
HOSTILE_DOCUMENTS = [
    (
        "pyproject.toml",
        '[project]\nname = "a"\ndynamic = 5\n',
        "[project].dynamic: expected a list",
    ),
    (
        "pyproject.toml",
        '[project]\ndynamic = [5]\ndependencies = ["six"]\n',
        "[project].dynamic[0]",
    ),
    ("pyproject.toml", "[project]\ndependencies = 5\n", "[project].dependencies"),
    ("pyproject.toml", '[project]\ndependencies = ["six", 7]\n', "[project].dependencies[1]"),
    ("pyproject.toml", '[project]\ndependencies = [""]\n', "[project].dependencies[0]"),
    ("pyproject.toml", f'[project]\ndependencies = ["{_HUGE}"]\n', "at most 10,000 characters"),
    ("pyproject.toml", "[project]\ndependencies = [[1, [2]]]\n", "[project].dependencies[0]"),
    ("pyproject.toml", "[project]\noptional-dependencies = 5\n", "[project].optional-dependencies"),
    (
        "pyproject.toml",
        "[project]\ndependencies = []\n[project.optional-dependencies]\nplots = [{a = 1}]\n",
        "[project].optional-dependencies.plots[0]",
    ),
    ("pyproject.toml", "[project]\nname = 1979-05-27\n", "[project].name: expected a string"),
    ("pyproject.toml", "[project]\nauthors = [5]\n", "[project].authors[0]"),
    ("pyproject.toml", f"a = {_DEEP}\n", "nested too deeply"),
    ("pylock.toml", 'lock-version = "1.0"\n[[packages]]\nname = "six"\nwheels = 5\n', "wheels"),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\n'
        'wheels = [{url = "x.whl", hashes = 5}]\n',
        "packages[0].wheels[0].hashes: expected a table of hashes",
    ),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\n'
        'wheels = [{url = "x.whl", hashes = {sha256 = 5}}]\n',
        "packages[0].wheels[0].hashes.sha256",
    ),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\nwheels = [{url = "x.whl"}]\n',
        'packages[0].wheels[0]: missing key "hashes"',
    ),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\nwheels = [{url = 5, hashes = {}}]\n',
        "packages[0].wheels[0].url",
    ),
    ("pylock.toml", 'lock-version = "1.0"\npackages = [5]\n', "packages[0]: expected a table"),
    ("pylock.toml", 'lock-version = "1.0"\npackages = 5\n', "packages: expected a list"),
    ("pylock.toml", 'lock-version = "1.0"\n[[packages]]\nversion = "1"\n', 'missing key "name"'),
    ("pylock.toml", 'lock-version = "1.0"\n[[packages]]\nname = ""\n', "packages[0].name"),
    ("pylock.toml", "lock-version = 1\npackages = []\n", "lock-version"),
    ("pylock.toml", 'lock-version = "2.0"\npackages = []\n', "lock-version"),
    ("pylock.toml", 'lock-version = "1.0"\n', 'missing key "packages"'),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\nmarker = 5\n',
        "packages[0].marker",
    ),
    (
        "pylock.toml",
        'lock-version = "1.0"\n[[packages]]\nname = "six"\n'
        'wheels = [{url = "https://x/nope.whl", hashes = {sha256 = "ab12cd34"}}]\n',
        "packages[0].wheels[0]: 'nope.whl' is not a wheel's file name",
    ),
    ("requirements.txt", "--index-url not-a-url\nsix\n", "requirements.txt:1: --index-url"),
    ("requirements.txt", '--extra-index-url ""\nsix\n', "--extra-index-url[0]"),
    ("requirements.txt", "six==1.16.0 --hash=sha256:\n", "requirements.txt:1: --hash[0]"),
    ("requirements.txt", "six==1.16.0 --hash=md5:abcd\n", "--hash[0]: expected sha256:"),
    ("requirements.txt", "-r ftp://example.invalid/r.txt\n", "only http and https"),
]


def _build_logging_crashes(lf: LF, work: Path, *args: str) -> Run:
    """``layerforge build ARGS`` with crash logs (a bug's) going to ``work/state``."""
    return lf("build", *args, "--no-cache", env={"XDG_STATE_HOME": str(work / "state")})


@pytest.mark.parametrize(("name", "content", "fragment"), HOSTILE_DOCUMENTS)
def test_hostile_documents_are_usage_errors_naming_the_key(
    lf: LF, work: Path, name: str, content: str, fragment: str
) -> None:
    _file(work, name, content)
    failed_cleanly(_build_logging_crashes(lf, work, "-r", name), 2, fragment, name, bound=15)
    assert not any((work / "state").rglob("crash-*")), "a crash log was written"


#: [tool.layerforge] and --config: the same contract (the did-you-mean kept).
HOSTILE_SETTINGS = [
    ("tool = 5", "[tool]: expected a table, got 5"),
    ("[tool]\nlayerforge = []", "[tool.layerforge]: expected a table"),
    ("[tool.layerforge]\nruntmie = 'python3.11'", "did you mean 'runtime'"),
    ("[tool.layerforge]\nrequirements = [5]", "[tool.layerforge].requirements"),
    ("[tool.layerforge]\nrequirements = ['']", "[tool.layerforge].requirements"),
    ("[tool.layerforge]\nruntime = [['python3.11']]", "[tool.layerforge].runtime"),
    ("[tool.layerforge]\nmatrix = 5", "[tool.layerforge].matrix: expected a table"),
    ("[tool.layerforge]\nmatrix = {runtime = [5]}", "[tool.layerforge].matrix.runtime"),
    ("[tool.layerforge]\nmatrix = {aarch = ['x86_64']}", "did you mean 'arch'"),
    ("[tool.layerforge]\nmatrix = {arch = ['arm64'], archs = ['x86_64']}", "not both"),
    ("[tool.layerforge]\nmax-unzipped = 99999999999999999999999", "max-unzipped"),
    (f"[tool.layerforge]\nmax-unzipped = '{'9' * 400}GiB'", "max-unzipped"),
    ("[tool.layerforge]\nmax-unzipped = '9999999999999999PiB'", "max-unzipped"),
    ("[tool.layerforge]\nmax-unzipped = -1", "max-unzipped"),
    ("[tool.layerforge]\nstrip = 2", "[tool.layerforge].strip"),
    ("[tool.layerforge]\nproof = 5", "[tool.layerforge].proof: expected a table"),
    (f"[tool.layerforge]\nimage = '{_HUGE}'", "at most 4,096 characters"),
    ("[tool.layerforge]\noutput = 1979-05-27T07:32:00Z", "[tool.layerforge].output"),
]


@pytest.mark.parametrize(("settings", "fragment"), HOSTILE_SETTINGS)
def test_hostile_settings_are_usage_errors_naming_the_key(
    lf: LF, work: Path, settings: str, fragment: str
) -> None:
    _file(work, "pyproject.toml", settings + "\n")
    run = _build_logging_crashes(lf, work, "six")
    failed_cleanly(run, 2, fragment, "pyproject.toml", bound=15)
    assert not any((work / "state").rglob("crash-*")), "a crash log was written"


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ("[1]", "--event must be a JSON object"),
        ('"rows"', "--event must be a JSON object"),
        ('{"bucket": 5}', "--event: bucket: expected a bucket name"),
        ('{"prefix": ["a"]}', "--event: prefix"),
        ('{"bucket": "' + "b" * 100 + '"}', "--event: bucket"),
        (_DEEP, "--event: nested too deeply"),
        ("{", "--event is not JSON"),
    ],
)
def test_hostile_events_are_usage_errors_naming_the_key(
    lf: LF, small_layer: Path, event: str, fragment: str
) -> None:
    run = lf("invoke-local", "--layer", str(small_layer), "--event", event, "--sandbox", "bwrap")
    failed_cleanly(run, 2, fragment, bound=15)


def test_requirements_named_by_url_are_fetched_within_bounds(lf: LF, work: Path) -> None:
    from tests.unit.test_inputs import serving  # a real HTTP server on loopback

    with serving({"/big.txt": b"#" * (11 * 2**20)}) as url:
        _file(work, "r.txt", f"-r {url}/absent.txt\n")
        failed_cleanly(lf("build", "-r", "r.txt"), 2, "HTTP 404", f"{url}/absent.txt", bound=15)
        _file(work, "r.txt", f"-r {url}/big.txt\n")
        failed_cleanly(lf("build", "-r", "r.txt"), 2, "is over 10 MiB", bound=15)
    _file(work, "r.txt", f"-r {url}/gone.txt\n")  # the server is gone: the network failed
    failed_cleanly(lf("build", "-r", "r.txt"), 3, "cannot fetch requirements file", bound=30)


@pytest.fixture
def small_disk(work: Path) -> Iterator[Callable[[str], Path]]:
    """``small_disk("size=64k")``: a tmpfs of that size mounted in ``work`` (root only)."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        folder = work / f"disk-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.network
@pytest.mark.parametrize(
    "options",
    [
        "size=64k",  # pip's download fills it
        "size=160k",  # pip's download fits, uv's install does not
        "size=50m,nr_inodes=20",  # uv cannot create its cache's files
    ],
)
def test_a_full_scratch_disk_says_the_disk_is_full(
    lf: LF, small_disk: Callable[[str], Path], options: str
) -> None:
    disk = small_disk(options)
    run = lf(
        "build",
        "six==1.16.0",
        "attrs==23.2.0",
        "--backend",
        "cross",
        "--installer",
        "auto",
        "--no-cache",
        env={"LAYERFORGE_SCRATCH": str(disk)},
    )
    failed_cleanly(run, 3, f"out of disk space in {disk}", bound=60)
    assert "cannot be used multiple times" not in run.err
    assert list(disk.iterdir()) == [], "the scratch folder was left behind"
