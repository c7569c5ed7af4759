"""The proof that a function ran as it should: a spec (data) and the checks that apply it."""

from __future__ import annotations

from layerforge.proof.checks import check_all, check_artifacts, check_execution, check_logs
from layerforge.proof.report import Check, Outcome, ProofReport
from layerforge.proof.spec import (
    ArtifactSpec,
    Assertion,
    ProofSpec,
    Templates,
    bundled_spec,
    load_proof_spec,
    parse_proof_spec,
)

__all__ = [
    "ArtifactSpec",
    "Assertion",
    "Check",
    "Outcome",
    "ProofReport",
    "ProofSpec",
    "Templates",
    "bundled_spec",
    "check_all",
    "check_artifacts",
    "check_execution",
    "check_logs",
    "load_proof_spec",
    "parse_proof_spec",
]
