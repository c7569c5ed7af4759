"""The function's input objects, uploaded before it is invoked (the spec's ``[[inputs]]``): each
upload planned first (file -> s3://bucket/key, templates expanded and checked), so a dry run
lists exactly what the run uploads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge.aws_names import check_bucket
from layerforge.errors import UsageError
from layerforge.proof.spec import ProofSpec, key_problem
from layerforge.proof.templates import Templates

__all__ = ["Upload", "planned_uploads", "upload_inputs"]


@dataclass(frozen=True)
class Upload:
    file: Path
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_dict(self) -> dict[str, str]:
        return {"file": str(self.file), "bucket": self.bucket, "key": self.key, "to": self.url}


def _checked(index: int, what: str, value: str, problem: str | None) -> str:
    if problem:
        raise UsageError(
            f"proof spec: inputs[{index}].{what} expands to {value!r}: {problem}",
            hint="give a bucket name and a key without '.' or '..' segments",
        )
    return value


def _bucket_problem(bucket: str) -> str | None:
    try:
        check_bucket(bucket)
    except UsageError as error:
        return error.message
    return None


def planned_uploads(spec: ProofSpec, templates: Templates) -> list[Upload]:
    """Every upload the run makes, in the spec's order; UsageError for a bucket or key that
    its templates made invalid (or a field the event lacks)."""
    uploads = []
    for index, item in enumerate(spec.inputs):
        bucket = templates.expand(item.bucket)
        key = templates.expand(item.key).strip("/")
        uploads.append(
            Upload(
                item.file,
                _checked(index, "bucket", bucket, _bucket_problem(bucket)),
                _checked(index, "key", key, key_problem(key)),
            )
        )
    return uploads


def upload_inputs(s3: Any, spec: ProofSpec, templates: Templates) -> list[dict[str, str]]:
    """Put each declared input file at its bucket and key; returns what was uploaded."""
    uploaded = []
    for upload in planned_uploads(spec, templates):
        s3.upload_file(str(upload.file), upload.bucket, upload.key)
        uploaded.append(upload.to_dict())
    return uploaded
