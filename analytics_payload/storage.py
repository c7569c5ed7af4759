"""The function's I/O: a fresh work folder under /tmp, the artifacts in it, and their upload."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "Artifact",
    "UploadFailedError",
    "upload_artifacts",
    "work_folder",
    "write_artifacts",
]

CONTENT_TYPES = {
    "partial.json": "application/json",
    "data.csv": "text/csv",
    "stats.json": "application/json",
    "plot.png": "image/png",
}


@dataclass(frozen=True)
class Artifact:
    name: str
    path: Path
    content_type: str
    size: int
    sha256: str

    def describe(self, key: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {
            "name": self.name,
            "bytes": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
        }
        if key is not None:
            found["key"] = key
        return found


class UploadFailedError(Exception):
    """An upload failed; ``artifact`` names which, ``uploaded`` lists those already stored."""

    def __init__(self, artifact: str, uploaded: list[dict[str, Any]], cause: Exception) -> None:
        super().__init__(f"upload of {artifact} failed: {cause}")
        self.artifact = artifact
        self.uploaded = uploaded
        self.cause = cause


@contextmanager
def work_folder(root: Path | None = None) -> Iterator[Path]:
    """A fresh folder under /tmp for one invocation, removed afterwards (warm containers reuse
    /tmp, so nothing may pile up or mix between runs)."""
    folder = Path(tempfile.mkdtemp(prefix="analysis-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _artifact(path: Path) -> Artifact:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return Artifact(
        path.name,
        path,
        CONTENT_TYPES.get(path.name, "application/octet-stream"),
        path.stat().st_size,
        digest.hexdigest(),
    )


def json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def write_files(
    folder: Path,
    frame: pd.DataFrame | None,
    documents: dict[str, dict[str, Any]],
    png: bytes | None = None,
) -> list[Artifact]:
    """The given artifacts in ``folder`` (data.csv from ``frame``, JSON documents, plot.png),
    in that order."""
    names = []
    if frame is not None:
        frame.to_csv(folder / "data.csv", index=False)
        names.append("data.csv")
    for name, document in documents.items():
        (folder / name).write_bytes(json_bytes(document))
        names.append(name)
    if png is not None:
        (folder / "plot.png").write_bytes(png)
        names.append("plot.png")
    return [_artifact(folder / name) for name in names]


def write_artifacts(
    folder: Path, frame: pd.DataFrame, stats: dict[str, Any], png: bytes
) -> list[Artifact]:
    """data.csv, stats.json and plot.png in ``folder``."""
    return write_files(folder, frame, {"stats.json": stats}, png)


def upload_artifacts(
    client: Any,
    bucket: str,
    prefix: str,
    artifacts: list[Artifact],
    on_uploaded: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """PutObject each artifact with a SHA-256 checksum that S3 verifies on arrival."""
    uploaded: list[dict[str, Any]] = []
    for artifact in artifacts:
        key = f"{prefix}/{artifact.name}"
        checksum = base64.b64encode(bytes.fromhex(artifact.sha256)).decode("ascii")
        try:
            with artifact.path.open("rb") as body:
                client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentType=artifact.content_type,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
        except Exception as exc:  # any client error: report which artifact failed
            raise UploadFailedError(artifact.name, uploaded, exc) from exc
        record = artifact.describe(key)
        uploaded.append(record)
        on_uploaded(record)
    return uploaded
