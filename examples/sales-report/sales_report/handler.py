"""The Lambda entry point: read the input CSV from S3, summarise it, write the report back."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from typing import Any

import boto3
import pandas as pd

from sales_report.report import summarise, top_products


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> dict[str, Any]:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return {
        "key": key,
        "name": key.rsplit("/", 1)[-1],
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def main(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = event.get("bucket") or os.environ["ARTIFACT_BUCKET"]
    prefix = event.get("prefix") or os.environ.get("ARTIFACT_PREFIX", "sales-report")
    key = event.get("input", "inputs/sales.csv")
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    sales = pd.read_csv(io.BytesIO(body))
    log("input_read", key=key, rows=len(sales))
    run = f"{prefix}/{uuid.uuid4().hex[:12]}"
    summary = summarise(sales)
    artifacts = [
        _put(
            s3,
            bucket,
            f"{run}/summary.json",
            json.dumps(summary, indent=2).encode(),
            "application/json",
        ),
        _put(
            s3,
            bucket,
            f"{run}/top_products.csv",
            top_products(sales).to_csv(index=False).encode(),
            "text/csv",
        ),
    ]
    log("report_written", prefix=run, artifacts=[a["key"] for a in artifacts])
    return {
        "status": "ok",
        "prefix": run,
        "rows": summary["rows"],
        "regions": sorted(summary["regions"]),
        "artifacts": artifacts,
    }
