"""What a proof run found: named checks with their evidence, and what it looked at."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Check", "Outcome", "ProofReport"]


@dataclass(frozen=True)
class Outcome:
    """What an invocation returned, wherever it ran (Lambda, the sandbox, a state machine)."""

    status_code: int
    function_error: str | None
    payload: Any
    log_lines: list[str]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    evidence: str


@dataclass
class ProofReport:
    checks: list[Check]
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def sections(self) -> dict[str, str]:
        """The detail sections (layer, function, role, invocation ...) as one line each."""
        return {
            name: ", ".join(f"{k}={v}" for k, v in value.items())
            for name, value in self.details.items()
            if isinstance(value, dict)
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            **self.details,
            "artifacts": self.artifacts,
            "checks": [asdict(c) for c in self.checks],
        }
