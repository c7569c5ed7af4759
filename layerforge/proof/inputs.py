"""The function's input objects, uploaded before it is invoked (the spec's ``[[inputs]]``)."""

from __future__ import annotations

from typing import Any

from layerforge.proof.spec import ProofSpec, Templates

__all__ = ["upload_inputs"]


def upload_inputs(s3: Any, spec: ProofSpec, templates: Templates) -> list[dict[str, str]]:
    """Put each declared input file at its bucket and key; returns what was uploaded."""
    uploaded = []
    for item in spec.inputs:
        bucket, key = templates.expand(item.bucket), templates.expand(item.key)
        s3.upload_file(str(item.file), bucket, key)
        uploaded.append({"file": str(item.file), "bucket": bucket, "key": key})
    return uploaded
