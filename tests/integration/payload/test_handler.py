"""The payload run in-process against a real moto server over HTTP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError

from analytics_payload import handler


class Context:
    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


@pytest.fixture
def bucket(aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    monkeypatch.setattr(handler, "_CLIENT", None)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "lambda-tmp"))
    (tmp_path / "lambda-tmp").mkdir()
    yield name


def _objects(bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    s3 = boto3.client("s3")
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        head = s3.head_object(Bucket=bucket, Key=item["Key"], ChecksumMode="ENABLED")
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"].rsplit("/", 1)[1]] = {"head": head, "body": body}
    return found


def test_three_artifacts_with_types_checksums_and_matching_numbers(bucket: str) -> None:
    response = handler.lambda_handler({"rows": 2_000, "seed": 11, "bucket": bucket}, Context())
    assert response["status"] == "ok", response
    assert response["prefix"].startswith("automated-analysis/")
    objects = _objects(bucket, response["prefix"] + "/")
    assert set(objects) == {"data.csv", "stats.json", "plot.png"}
    types = {name: o["head"]["ContentType"] for name, o in objects.items()}
    assert types == {
        "data.csv": "text/csv",
        "stats.json": "application/json",
        "plot.png": "image/png",
    }
    reported = {a["name"]: a for a in response["artifacts"]}
    for name, stored in objects.items():
        assert reported[name]["bytes"] == len(stored["body"])
        assert reported[name]["sha256"] == hashlib.sha256(stored["body"]).hexdigest()
        assert reported[name]["key"] == f"{response['prefix']}/{name}"
    rows = list(csv.DictReader(io.StringIO(objects["data.csv"]["body"].decode())))
    assert len(rows) == 2_000
    stats = json.loads(objects["stats.json"]["body"])
    assert stats["schema_version"] == 1 and stats["rows"] == 2_000 and stats["seed"] == 11
    temperatures = [float(r["temperature_c"]) for r in rows]
    assert stats["summary"]["temperature_c"]["max"] == pytest.approx(max(temperatures))
    assert stats["summary"]["temperature_c"]["mean"] == pytest.approx(
        sum(temperatures) / len(temperatures), abs=1e-5
    )
    missing = sum(1 for r in rows if r["humidity_pct"] == "")
    assert stats["missing"]["humidity_pct"] == missing
    assert sum(s["rows"] for s in stats["by_site"].values()) == 2_000
    assert "NaN" not in objects["stats.json"]["body"].decode()
    png = objects["plot.png"]["body"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1200, 900)
    assert set(response["timings_ms"]) >= {"generate_ms", "plot_ms", "upload_ms", "total_ms"}
    assert response["backend"] == "agg"


def test_same_seed_same_data(bucket: str) -> None:
    first = handler.lambda_handler({"rows": 500, "seed": 3, "bucket": bucket}, Context())
    second = handler.lambda_handler({"rows": 500, "seed": 3, "bucket": bucket}, Context())
    other = handler.lambda_handler({"rows": 500, "seed": 4, "bucket": bucket}, Context())
    digest = {
        r["prefix"]: {a["name"]: a["sha256"] for a in r["artifacts"]}
        for r in (first, second, other)
    }
    assert digest[first["prefix"]]["data.csv"] == digest[second["prefix"]]["data.csv"]
    assert digest[first["prefix"]]["data.csv"] != digest[other["prefix"]]["data.csv"]


def test_logs_are_one_json_line_per_milestone(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.lambda_handler({"rows": 300, "seed": 1, "bucket": bucket}, Context())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    events = [line["event"] for line in lines]
    milestones = ["accepted", "headless", *["artifact_written"] * 3, *["uploaded"] * 3, "summary"]
    assert events == milestones
    headless = lines[1]
    assert headless["backend"] == "agg" and headless["display"] is None


def test_work_folder_is_fresh_and_removed(bucket: str, tmp_path: Path) -> None:
    handler.lambda_handler({"rows": 100, "seed": 1, "bucket": bucket}, Context())
    leftovers = [p.name for p in (tmp_path / "lambda-tmp").iterdir()]
    assert not [name for name in leftovers if name.startswith("analysis-")]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"rows": -5}, "rows must be between"),
        ({"rows": 10**9}, "rows must be between"),
        ({"rows": "many"}, "rows must be an integer"),
        ({"rows": True}, "rows must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"prefix": "../etc"}, "not a usable key prefix"),
        ({"prefix": "."}, "not a usable key prefix"),
        ({"prefix": "runs/./x"}, "not a usable key prefix"),
        ({"prefix": "runs//x"}, "not a usable key prefix"),
        ({"prefix": "/runs"}, "not a usable key prefix"),
        ({"bucket": "Not_A_Bucket"}, "not a valid S3 bucket name"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_events_get_an_error_response_and_upload_nothing(
    bucket: str, event: Any, message: str
) -> None:
    if isinstance(event, dict) and "bucket" not in event:
        event = {**event, "bucket": bucket}
    response = handler.lambda_handler(event, Context())
    assert response["status"] == "error"
    assert response["error"]["type"] == "InvalidEvent"
    assert message in response["error"]["message"]
    assert boto3.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_missing_bucket_everywhere(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARTIFACT_BUCKET", raising=False)
    response = handler.lambda_handler({"rows": 10}, Context())
    assert response["error"]["type"] == "InvalidEvent"
    assert "ARTIFACT_BUCKET" in response["error"]["message"]


def test_bucket_and_prefix_from_environment(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_BUCKET", bucket)
    monkeypatch.setenv("ARTIFACT_PREFIX", "team/runs")
    response = handler.lambda_handler({"rows": 50, "seed": 2}, Context())
    assert response["status"] == "ok" and response["prefix"].startswith("team/runs/")


def test_bucket_that_does_not_exist_fails_on_the_first_artifact(
    bucket: str,
) -> None:
    response = handler.lambda_handler({"rows": 50, "bucket": "no-such-bucket-x1"}, Context())
    assert response["error"]["type"] == "UploadFailed"
    assert response["error"]["artifact"] == "data.csv"
    assert response["error"]["uploaded"] == []


def test_dropped_connection_mid_upload_names_the_failed_artifact(
    bucket: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MOCKED FAULT: a connection dropped during the plot.png upload cannot be produced on
    demand against a real server, so botocore's before-send hook raises the exact error
    botocore raises for it. The first two uploads go to the real moto server."""
    client = boto3.client("s3", config=Config(retries={"max_attempts": 1}))

    def drop_plot(request: Any, **_: Any) -> None:
        if request.url.split("?")[0].endswith("/plot.png"):
            raise ConnectionClosedError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", drop_plot)
    monkeypatch.setattr(handler, "_CLIENT", client)
    response = handler.lambda_handler({"rows": 100, "seed": 5, "bucket": bucket}, Context())
    assert response["status"] == "error"
    assert response["error"]["type"] == "UploadFailed"
    assert response["error"]["artifact"] == "plot.png"
    assert [a["name"] for a in response["error"]["uploaded"]] == ["data.csv", "stats.json"]
