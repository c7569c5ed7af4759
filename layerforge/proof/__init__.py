"""The proof that a function ran as it should: a spec (data) and the checks that apply it."""

from __future__ import annotations

from layerforge.proof.checks import check_all, check_artifacts, check_execution, check_logs
from layerforge.proof.inputs import Upload, planned_uploads
from layerforge.proof.plan import proof_plan
from layerforge.proof.report import Check, Outcome, ProofReport
from layerforge.proof.scopes import Access, access_of
from layerforge.proof.spec import (
    ArtifactSpec,
    Assertion,
    ProofSpec,
    bundled_spec,
    load_proof_spec,
    parse_proof_spec,
)
from layerforge.proof.templates import TemplateError, Templates

__all__ = [
    "Access",
    "ArtifactSpec",
    "Assertion",
    "Check",
    "Outcome",
    "ProofReport",
    "ProofSpec",
    "TemplateError",
    "Templates",
    "Upload",
    "access_of",
    "bundled_spec",
    "check_all",
    "check_artifacts",
    "check_execution",
    "check_logs",
    "load_proof_spec",
    "parse_proof_spec",
    "planned_uploads",
    "proof_plan",
]
