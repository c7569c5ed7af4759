"""Publishing and proving on AWS: boto3 clients are passed in, so moto or AWS serve alike."""

from __future__ import annotations

from layerforge.aws.clients import AwsClients, AwsTarget, connect_aws
from layerforge.aws.proof import Check, Outcome, ProofReport, check_all
from layerforge.aws.run import ProofRun, cleanup, dry_run_plan, parse_event, publish_and_invoke

__all__ = [
    "AwsClients",
    "AwsTarget",
    "Check",
    "Outcome",
    "ProofReport",
    "ProofRun",
    "check_all",
    "cleanup",
    "connect_aws",
    "dry_run_plan",
    "parse_event",
    "publish_and_invoke",
]
