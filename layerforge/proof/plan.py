"""What a proof spec makes a run do before the function runs, for the plan a dry run prints:
every upload (file -> s3://bucket/key) and the access scopes the role follows, with those
outside the run's bucket named."""

from __future__ import annotations

from typing import Any

from layerforge.proof.inputs import planned_uploads
from layerforge.proof.scopes import access_of
from layerforge.proof.spec import ProofSpec
from layerforge.proof.templates import Templates

__all__ = ["proof_plan"]


def proof_plan(spec: ProofSpec, templates: Templates, bucket: str) -> dict[str, Any]:
    """``uploads`` and ``access`` (``read``, ``write``, ``outside_bucket`` when any is);
    UsageError for an upload or scope its templates make invalid."""
    uploads = planned_uploads(spec, templates)
    return {
        "uploads": [{"file": str(upload.file), "to": upload.url} for upload in uploads],
        "access": access_of(spec.read, spec.write, templates).plan(bucket),
    }
