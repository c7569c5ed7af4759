"""Create or update the function, attach the layer, and wait until Lambda says it is ready.

A function layerforge creates is tagged as its own; one it did not deploy is never updated. A
create that meets a function a run beside this one just created reuses it (two identical runs
converge on one function)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from layerforge.aws.clients import error_code
from layerforge.aws.ownership import (
    lambda_tags,
    read_function,
    refuse_function,
    tags_of_function,
)
from layerforge.errors import AwsError, UsageError
from layerforge.runtimes import Architecture, Runtime

__all__ = ["DeployedFunction", "FunctionConfig", "check_environment", "deploy_function"]

_SECRET_NAMES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
}
_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
_ROLE_NOT_READY = "cannot be assumed by Lambda"


@dataclass(frozen=True, kw_only=True)
class FunctionConfig:
    name: str
    role_arn: str
    runtime: Runtime
    architecture: Architecture
    handler: str
    memory_mb: int = 1024
    timeout_s: int = 300
    ephemeral_mb: int = 512
    environment: Mapping[str, str] = field(default_factory=dict)
    layers: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        return {
            "Role": self.role_arn,
            "Handler": self.handler,
            "Runtime": self.runtime.name,
            "MemorySize": self.memory_mb,
            "Timeout": self.timeout_s,
            "EphemeralStorage": {"Size": self.ephemeral_mb},
            "Environment": {"Variables": dict(self.environment)},
            "Layers": list(self.layers),
        }


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    arn: str
    created: bool


def check_environment(environment: Mapping[str, str]) -> None:
    """Credentials never go into function configuration: the execution role provides them."""
    leaked = sorted(
        k for k, v in environment.items() if k in _SECRET_NAMES or _ACCESS_KEY.search(v)
    )
    if leaked:
        raise UsageError(
            f"refusing to put AWS credentials into the function's environment: {', '.join(leaked)}",
            hint="the function gets its credentials from its execution role; drop these --env",
        )


def _create(
    lambda_: Any,
    config: FunctionConfig,
    code: bytes,
    *,
    attempts: int,
    pause: float,
    sleep: Callable[[float], None],
) -> str | None:
    """CreateFunction (tagged as layerforge's), retried while a new role has not propagated
    through IAM yet; None when a run beside this one created the function first."""
    for attempt in range(1, attempts + 1):
        try:
            created = lambda_.create_function(
                FunctionName=config.name,
                Code={"ZipFile": code},
                Architectures=[config.architecture.value],
                Publish=False,
                Tags=lambda_tags(),
                **config.settings(),
            )
            return str(created["FunctionArn"])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceConflictException":
                return None
            not_ready = error_code(exc) == "InvalidParameterValueException" and (
                _ROLE_NOT_READY in str(exc)
            )
            if not not_ready or attempt == attempts:
                raise
            sleep(pause)
    raise AssertionError("unreachable")


def _while_updating(lambda_: Any, name: str, action: Callable[[], Any]) -> Any:
    """Run ``action``; an update already in progress is waited out, not failed."""
    for _ in range(5):
        try:
            return action()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceConflictException":
                raise
            lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)
    return action()


def deploy_function(
    lambda_: Any,
    config: FunctionConfig,
    code: bytes,
    *,
    new_role: bool = False,
    role_attempts: int = 12,
    role_pause: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployedFunction:
    """Create the function, or update its code and configuration; wait until it is ready.

    Only a role made moments ago (``new_role``: by this run, or by a run beside it) may still be
    propagating through IAM; for it, creation is retried while Lambda says the role cannot be
    assumed yet. Any other role fails at once. A function layerforge did not deploy is refused."""
    check_environment(config.environment)
    role_attempts = role_attempts if new_role else 1
    existing = read_function(lambda_, config.name)
    if existing is None:
        arn = _create(lambda_, config, code, attempts=role_attempts, pause=role_pause, sleep=sleep)
        lambda_.get_waiter("function_active_v2").wait(FunctionName=config.name)
        if arn is not None:
            return DeployedFunction(config.name, arn, created=True)
        existing = read_function(lambda_, config.name)  # made by a run beside this one: reuse it
        if existing is None:
            raise AwsError(f"function {config.name} vanished while it was created", hint="retry")
    arn = str(existing["Configuration"]["FunctionArn"])
    refuse_function(config.name, arn, tags_of_function(existing))
    waiter = lambda_.get_waiter("function_updated_v2")
    _while_updating(
        lambda_,
        config.name,
        lambda: lambda_.update_function_code(
            FunctionName=config.name, ZipFile=code, Architectures=[config.architecture.value]
        ),
    )
    waiter.wait(FunctionName=config.name)
    _while_updating(
        lambda_,
        config.name,
        lambda: lambda_.update_function_configuration(
            FunctionName=config.name, **config.settings()
        ),
    )
    waiter.wait(FunctionName=config.name)
    return DeployedFunction(config.name, str(arn), created=False)
