"""Fixtures of the tests that talk to the moto server (which runs Lambda in Docker)."""

from __future__ import annotations

import uuid

import pytest

from layerforge.aws.clients import AwsClients, AwsTarget, connect_aws

REGION = "us-east-1"


@pytest.fixture
def clients(aws_env: str, lambda_image: str) -> AwsClients:
    return connect_aws(AwsTarget(region=REGION, endpoint_url=aws_env))


@pytest.fixture
def bucket(clients: AwsClients) -> str:
    name = f"proof-{uuid.uuid4().hex[:12]}"
    clients.s3.create_bucket(Bucket=name)
    return name
