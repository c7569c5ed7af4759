"""Messages that tell the truth, against the moto server: after a FunctionError or a timeout the
artifacts check says there was no response; publish's verdict and hints name what happened."""

from __future__ import annotations

from layerforge.aws.clients import AwsClients
from layerforge.proof import Outcome, Templates, bundled_spec, check_all
from tests.integration.aws.fixtures import unique

#: What Lambda answers for a function that ran out of time (FunctionError Unhandled).
TIMED_OUT = {"errorMessage": "2026-12-01T10:00:00Z 1f2e Task timed out after 3.00 seconds"}


def test_after_a_timeout_artifacts_located_by_the_response_are_no_response(
    clients: AwsClients,
) -> None:
    bucket = unique("bucket")
    clients.s3.create_bucket(Bucket=bucket)
    templates = Templates({"bucket": bucket, "prefix": "automated-analysis"}, event={})
    outcome = Outcome(200, "Unhandled", TIMED_OUT, ["START", "END"])
    report = check_all(outcome, clients.s3, bundled_spec(), templates)
    checks = {c.name: c for c in report.checks}
    assert not checks["execution"].passed and "Task timed out" in checks["execution"].evidence
    evidence = checks["artifacts"].evidence
    assert "stats.json: no response (FunctionError Unhandled), so {response.prefix} is unknown" in (
        evidence
    )
    assert "outside the prefixes" not in evidence and "nothing under" not in evidence
