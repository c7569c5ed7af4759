"""Fixtures of the tests that talk to the moto server without running a function."""

from __future__ import annotations

import pytest

from layerforge.aws.clients import AwsClients, AwsTarget, connect_aws
from tests.integration.aws.fixtures import REGION


@pytest.fixture
def clients(aws_env: str) -> AwsClients:
    return connect_aws(AwsTarget(region=REGION, endpoint_url=aws_env))


@pytest.fixture
def other(aws_env: str) -> AwsClients:
    """The clients of "the other run", which meets this one."""
    return connect_aws(AwsTarget(region=REGION, endpoint_url=aws_env))
