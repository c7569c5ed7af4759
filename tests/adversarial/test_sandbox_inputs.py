"""smoke and invoke-local with hostile layers, modules and options (bubblewrap, no Docker)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from layerforge.sandbox.bwrap import bwrap_available
from tests.adversarial.conftest import LF, failed_as_json, failed_cleanly, zip_of
from tests.adversarial.harness import Run
from tests.conftest import sandbox_required

pytestmark = pytest.mark.adversarial

needs_bwrap = pytest.mark.skipif(
    bwrap_available() is None and not sandbox_required(), reason="needs bubblewrap"
)

HOSTILE = {
    "python/good/__init__.py": b"X = 1\n",
    "python/forger.py": b"import atexit, json\n"
    b"atexit.register(lambda: print(json.dumps({'ok': True, 'module': 'forger'})))\n"
    b"raise ImportError('I am broken')\n",
    "python/hang.py": b"import time\ntime.sleep(1000)\n",
    "python/nometa.py": b"raise RuntimeError('no metadata, still imported')\n",
    "python/ns_pkg/sub/__init__.py": b"raise ValueError('inside a namespace package')\n",
    "python/spawner.py": b"import subprocess\nsubprocess.Popen(['sleep', '1000'])\n"
    b"import time\ntime.sleep(1000)\n",
    "python/good-1.0.dist-info/METADATA": b"Name: good\nVersion: \xff\xfe1.0\n",
}


@needs_bwrap
def test_smoke_cannot_be_fooled_and_names_the_module_that_hangs(lf: LF, work: Path) -> None:
    layer = zip_of(work / "hostile.zip", HOSTILE)
    run = lf("smoke", str(layer), "--sandbox", "bwrap", "--timeout", "3", "--json", timeout=90)
    assert run.code == 1, run.describe()
    modules = {m["module"]: m for m in run.json()["modules"]}
    assert set(modules) == {"forger", "good", "hang", "nometa", "ns_pkg.sub", "spawner"}
    assert modules["good"]["ok"] is True
    assert modules["forger"]["ok"] is False and "I am broken" in modules["forger"]["error"]
    assert "timed out" in modules["hang"]["error"] and "timed out" in modules["spawner"]["error"]
    assert "no metadata" in modules["nometa"]["error"]
    assert run.processes == [] and run.leftovers == [], run.describe()
    assert run.seconds < 60


@needs_bwrap
def test_sigterm_during_smoke_leaves_no_sandbox_behind(lf: LF, work: Path) -> None:
    layer = zip_of(work / "hostile.zip", HOSTILE)
    run = lf(
        "smoke",
        str(layer),
        "--sandbox",
        "bwrap",
        "--timeout",
        "30",
        interrupt_on=r"Importing modules in the sandbox \.\.\.",
        signum=signal.SIGTERM,
    )
    failed_cleanly(run, 143, "interrupted by SIGTERM", bound=30)


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (b"not a zip at all", 2, "is not a readable zip"),
        (None, 2, "No such file"),
    ],
)
def test_smoke_with_a_file_that_is_no_layer(
    lf: LF, work: Path, content: bytes | None, code: int, fragment: str
) -> None:
    if content is not None:
        (work / "layer.zip").write_bytes(content)
    failed_cleanly(lf("smoke", "layer.zip", "--sandbox", "bwrap"), code, fragment, bound=15)


@needs_bwrap
def test_smoke_with_a_corrupt_member(lf: LF, work: Path) -> None:
    layer = zip_of(work / "c.zip", {"python/m.py": b"x = 1\n" * 2000})
    data = bytearray(layer.read_bytes())
    data[60:80] = b"\xff" * 20
    layer.write_bytes(bytes(data))
    failed_cleanly(lf("smoke", str(layer), "--sandbox", "bwrap"), 1, "is corrupt", bound=15)


def test_smoke_with_bad_options(lf: LF, small_layer: Path) -> None:
    failed_cleanly(lf("smoke", str(small_layer), "--timeout", "0"), 2, "--timeout", bound=15)
    failed_cleanly(lf("smoke", str(small_layer), "--memory", "12"), 2, "--memory", bound=15)
    failed_cleanly(lf("smoke", str(small_layer), "--sandbox", "vm"), 2, "vm", bound=15)


def test_a_sandbox_that_cannot_start_is_an_operation_error(lf: LF, small_layer: Path) -> None:
    run = lf("smoke", str(small_layer), "--sandbox", "bwrap", env={"PATH": "/nonexistent"})
    failed_cleanly(run, 3, "no sandbox available", bound=15)
    arm = lf(
        "smoke",
        str(small_layer),
        "--sandbox",
        "bwrap",
        "--arch",
        "arm64",
        env={"LAYERFORGE_ROOTFS_ARM64": ""},
    )
    assert arm.code == 3 and len(arm.error_lines) == 1, arm.describe()
    assert "arm64" in arm.error_lines[0]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--event", "{not json"], "is not JSON"),
        (["--event", "[1, 2]"], "must be a JSON object"),
        (["--event", "@absent.json"], "no such file"),
        (["--prefix", "."], "is not allowed"),
        (["--prefix", "a/../b"], "is not allowed"),
        (["--bucket", "Bad_Bucket"], "bucket"),
        (["--handler", "app.main"], "--handler needs --function-dir"),
        (["--function-dir", "absent", "--handler", "app.main"], "is not a folder"),
        (["--function-dir", ".", "--handler", "not a handler"], "is not module.function"),
        (["--function-dir", ".", "--handler", "missing.main"], "no missing.py"),
        (["--proof", "absent.toml"], "cannot read proof spec"),
        (["--endpoint-url", "not a url"], "is not a URL"),
        (["--function-dir", ".", "--function-zip", "x.zip", "--handler", "a.b"], "not both"),
    ],
)
def test_invoke_local_refuses_bad_options_before_starting_anything(
    lf: LF, small_layer: Path, argv: list[str], fragment: str
) -> None:
    failed_cleanly(lf("invoke-local", "--layer", str(small_layer), *argv), 2, fragment, bound=15)


def test_invoke_local_with_a_bad_proof_spec(lf: LF, work: Path, small_layer: Path) -> None:
    (work / "app.py").write_text("def main(event, context):\n    return {}\n")
    for body, fragment in [
        ("[response]\nassert = [{path = 'status', resembles = 'ok'}]\n", "give exactly one of"),
        ("[[artifacts]]\nname = 'a.csv'\nparser = 'xlsx'\n", "parser must be one of"),
        ("[logs]\npatterns = ['(unclosed']\n", "is not a regular expression"),
        ("surprise = 1\n", "unknown key 'surprise'"),
    ]:
        (work / "proof.toml").write_text(body)
        run = lf(
            "invoke-local",
            "--layer",
            str(small_layer),
            "--function-dir",
            ".",
            "--handler",
            "app.main",
            "--proof",
            "proof.toml",
        )
        failed_cleanly(run, 2, fragment, bound=15)


# -- proof specs: bounded and least-privilege ----------------------------------------------------


def _function_dir(work: Path, handler: str = "def main(event, context):\n    return {}\n") -> None:
    (work / "src").mkdir(exist_ok=True)
    (work / "src" / "real_app.py").write_text(handler)
    if not (work / "app.py").is_symlink():
        (work / "app.py").symlink_to("src/real_app.py")  # the handler module is a link
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "in.csv").write_text("a,b\n1,2\n")


def _local_args(layer: Path, proof: str = "proof.toml") -> list[str]:
    """invoke-local of ``app.main`` in this folder, judged by ``proof``."""
    function = ("--function-dir", ".", "--handler", "app.main")
    return ["invoke-local", "--layer", str(layer), *function, "--proof", proof]


def _local(lf: LF, layer: Path, *extra: str, **options: object) -> Run:
    return lf(*_local_args(layer), *extra, **options)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[access]\nwrite = ['*']\n", "access.write[0]: '*': '*' is a wildcard"),
        ("[access]\nwrite = ['{bucket}/../x/']\n", "access.write[0]: '{bucket}/../x/'"),
        ("[access]\nread = ['{bucket}/a/', 'other/*']\n", "access.read[1]"),
        ("[access]\nwrite = ['Other_Bucket/x/']\n", "is not a bucket name"),
        ("inputs = [{file = '../../../../etc/passwd', key = 'p'}]\n", "outside the spec's folder"),
        ("inputs = [{file = 'data/in.csv', key = '../p'}]\n", "inputs[0].key"),
        ("[logs]\npatterns = ['{nope}']\n", "unknown template {nope}"),
        ("[[artifacts]]\nname = 'a'\nmin_bytes = 'many'\n", "artifacts[0].min_bytes"),
        ("[response]\nassert = [{path = 's', exists = false}]\n", "exists = true"),
        ("[tool]\nlayerforge = 5\n", "tool.layerforge: expected a table"),
        ("tool = 5\n", "tool: expected a table, got 5"),
        (
            "".join(f"[[artifacts]]\nname = '{n}.json'\n" for n in range(10_000)),
            "artifacts: at most 1,000 entries",
        ),
    ],
)
def test_invoke_local_refuses_unfit_proof_specs_before_starting_anything(
    lf: LF, work: Path, small_layer: Path, body: str, fragment: str
) -> None:
    _function_dir(work)
    (work / "proof.toml").write_text(body)
    failed_cleanly(_local(lf, small_layer), 2, fragment, bound=15)


def test_a_proof_json_of_the_wrong_shape_is_a_usage_error(
    lf: LF, work: Path, small_layer: Path
) -> None:
    _function_dir(work)
    (work / "proof.json").write_text('{"tool": 5}')
    run = lf(*_local_args(small_layer, "proof.json"), "--json")
    document = failed_as_json(run, 2, "tool: expected a table, got 5")
    assert "proof.json" in document["error"]


def test_links_leaving_the_function_dir_are_refused(lf: LF, work: Path, small_layer: Path) -> None:
    _function_dir(work)
    (work / "proof.toml").write_text("")
    (work / "src" / "secrets").symlink_to("/etc")
    failed_cleanly(_local(lf, small_layer), 2, "src/secrets is a link to /etc", bound=15)


def test_the_dry_run_lists_every_upload_and_names_other_buckets(
    lf: LF, work: Path, small_layer: Path
) -> None:
    _function_dir(work)
    (work / ".git").mkdir()
    (work / "proof.toml").write_text(
        "inputs = [{file = 'data/in.csv', key = 'inputs/in.csv'},\n"
        "          {file = '/etc/hostname', key = 'inputs/host', allow_outside = true}]\n"
        "[access]\nread = ['{bucket}/inputs/', 'shared-reference/tables/']\n"
        "write = ['{bucket}/{prefix}/', '{bucket}-logs/{function}/']\n"
    )
    run = _local(lf, small_layer, "--dry-run", "--json", "--prefix", "runs")
    assert run.code == 0, run.describe()
    plan = run.json()
    assert plan["uploads"] == [
        {"file": str(work / "data" / "in.csv"), "to": "s3://layerforge-local/inputs/in.csv"},
        {"file": "/etc/hostname", "to": "s3://layerforge-local/inputs/host"},
    ]
    assert plan["access"]["outside_bucket"] == [
        "layerforge-local-logs/layerforge-local/",
        "shared-reference/tables/",
    ]
    assert plan["access"]["write"][0] == "layerforge-local/runs/"
    assert any(".git/" in note for note in plan["notes"])
    assert run.leftovers == [] and run.processes == [] and run.seconds < 15
    text = _local(lf, small_layer, "--dry-run")
    assert text.code == 0 and "shared-reference/tables/" in text.out, text.describe()


@needs_bwrap
@pytest.mark.slow
def test_a_hostile_proof_spec_ends_in_bounded_time_saying_why(
    lf: LF, work: Path, small_layer: Path
) -> None:
    """One run: a catastrophic pattern on the response and on the log, a template naming a
    missing field, a symlinked handler module, entries left out of the code."""
    _function_dir(
        work,
        "def main(event, context):\n"
        "    print('a' * 30000 + 'b')\n"
        "    return {'status': 'ok', 'text': 'a' * 30000 + 'b'}\n",
    )
    (work / "build").mkdir()
    (work / "proof.toml").write_text(
        "[response]\nassert = [\n"
        "  {path = 'status', equals = 'ok'},\n"
        "  {path = 'text', matches = '(a+)+$'},\n"
        "  {path = 'status', equals = '{response.nope}'},\n"
        "]\n"
        "[logs]\npatterns = ['(a+)+$', 'a{3}b']\n"
        "[[artifacts]]\nname = 'summary.json'\nprefix = '{response.prefix}'\n"
    )
    run = _local(lf, small_layer, "--sandbox", "bwrap", "--json", timeout=120)
    assert run.code == 1, run.describe()
    report = run.json()
    checks = {c["name"]: c for c in report["checks"]}
    execution = checks["execution"]["evidence"]
    assert 'text matches "(a+)+$": pattern took too long' in execution, execution
    assert "{response.nope}: the response has no field 'nope'" in execution, execution
    assert "'(a+)+$' (pattern took too long" in checks["logs"]["evidence"]
    assert "the response has no field 'prefix'" in checks["artifacts"]["evidence"]
    assert any("build/ (not function code)" in note for note in report["notes"])
    assert run.leftovers == [] and run.processes == [], run.describe()
    assert run.seconds < 90, run.describe()  # two patterns' 5 s bounds and one sandbox run


@needs_bwrap
@pytest.mark.slow
def test_a_thousand_artifacts_are_checked_in_bounded_time(
    lf: LF, work: Path, small_layer: Path, moto_endpoint: str
) -> None:
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"adv-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    names = [f"part-{n:04d}.json" for n in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"out/{n}", Body=b"{}"), names))
    _function_dir(work)
    (work / "proof.toml").write_text(
        "[access]\nwrite = ['{bucket}/out/']\n"
        + "".join(f"[[artifacts]]\nname = '{n}'\nprefix = 'out'\nparser = 'json'\n" for n in names)
    )
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    run = _local(
        lf,
        small_layer,
        "--sandbox",
        "bwrap",
        "--endpoint-url",
        moto_endpoint,
        "--bucket",
        bucket,
        "--json",
        env=env,
        timeout=180,
    )
    assert run.code == 0, run.describe()
    assert len(run.json()["artifacts"]) == 1000
    assert run.seconds < 120, run.describe()  # was one request per artifact and per glob
