"""One invocation of analytics_payload at 10^4, 10^5 and 10^6 rows: wall time and peak memory.

Each size runs in a fresh interpreter (as a cold Lambda would) against an embedded moto S3
on loopback. Targets (from the issue): 10^6 rows within Lambda's 1,024 MB memory setting, and
time growing no faster than linearly.

    python -m benchmarks.payload_benchmark [--json] [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from itertools import pairwise

import boto3

from layerforge.sandbox.local_run import LOCAL_CREDENTIALS, embedded_s3

PROBE = """
import json, resource, sys, time, uuid
started = time.perf_counter()
from analytics_payload.handler import lambda_handler
class Context:
    aws_request_id = str(uuid.uuid4())
response = lambda_handler({"rows": int(sys.argv[1]), "seed": 1}, Context())
assert response["status"] == "ok", response
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "timings_ms": response["timings_ms"]}))
"""


def measure(rows: int, endpoint: str) -> dict[str, float]:
    env = {
        **os.environ,
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "ARTIFACT_BUCKET": "bench",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    with embedded_s3() as endpoint:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        ).create_bucket(Bucket="bench")
        runs = {rows: measure(rows, endpoint) for rows in args.sizes}
    sizes = sorted(runs)
    largest = runs[sizes[-1]]
    growth = [(runs[b]["seconds"] / runs[a]["seconds"]) / (b / a) for a, b in pairwise(sizes)]
    verdicts = {
        "largest_peak_mb": largest["peak_mb"],
        "largest_within_1024_mb": largest["peak_mb"] < 1024,
        "time_growth_vs_linear": [round(g, 3) for g in growth],
        "no_faster_than_linear": all(g <= 1.0 for g in growth),
    }
    if args.json:
        print(json.dumps({"runs": runs, "verdicts": verdicts}, indent=2))
        return 0
    print(f"{'rows':>10} {'seconds':>9} {'peak MB':>9}  phases (ms)")
    for rows in sizes:
        run = runs[rows]
        print(f"{rows:>10,} {run['seconds']:>9.2f} {run['peak_mb']:>9.0f}  {run['timings_ms']}")
    for name, value in verdicts.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
