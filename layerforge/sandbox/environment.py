"""What a Lambda execution environment looks like from inside: variables, paths, limits; and the
layer extracted as Lambda extracts it (refusing anything unsafe, bounded in size)."""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from layerforge._scripts import script_source
from layerforge.errors import CheckFailedError, UsageError
from layerforge.runtimes import LIMITS, Architecture, Runtime

__all__ = [
    "RUNNER",
    "RUNNER_DIR",
    "TASK_ROOT",
    "SandboxSpec",
    "extract_layer",
    "lambda_environment",
    "open_layer_zip",
    "prepare_tree",
]

TASK_ROOT = "/var/task"
RUNNER_DIR = "/var/layerforge"
RUNNER = f"{RUNNER_DIR}/lambda_runner.py"
HARNESS = f"{RUNNER_DIR}/smoke_harness.py"


@dataclass(frozen=True, kw_only=True)
class SandboxSpec:
    """The function's configuration, as the sandbox reproduces it."""

    runtime: Runtime
    architecture: Architecture
    image: str | None = None
    rootfs: Path | None = None
    function_name: str = "layerforge-local"
    memory_mb: int = 1024
    ephemeral_mb: int = 512
    timeout_s: int = 300
    import_timeout_s: float = 60.0
    network: str = "none"
    environment: Mapping[str, str] = field(default_factory=dict)


def lambda_environment(spec: SandboxSpec) -> dict[str, str]:
    """Lambda's reserved variables and paths. No DISPLAY; HOME names the home of Lambda's user
    (sbx_user1051), which does not exist and cannot be created: nothing can be written there."""
    version = spec.runtime.python_version
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime.name}",
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
        "/var/task:/var/task/lib:/opt/lib",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "PYTHONPATH": f"/opt/python/lib/python{version}/site-packages:/opt/python:/var/runtime",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": "/home/sbx_user1051",
        **spec.environment,
    }


def _member_mode(info: zipfile.ZipInfo) -> int:
    mode = (info.external_attr >> 16) & 0o777 if info.create_system == 3 else 0
    return 0o755 if mode & stat.S_IXUSR else 0o644


def open_layer_zip(layer: Path) -> zipfile.ZipFile:
    """The layer as a zip, or a clear error: it must be a regular file and a readable zip."""
    try:
        info = layer.stat()
    except OSError as exc:
        raise UsageError(
            f"cannot read layer {layer}: {exc.strerror}", hint="check the path"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"layer {layer} is not a regular file", hint="give a layer zip")
    try:
        return zipfile.ZipFile(layer)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UsageError(
            f"{layer} is not a readable zip: {exc}",
            hint="give a layer zip (layerforge build writes one)",
        ) from None


def _check_members(layer: Path, archive: zipfile.ZipFile, root: Path) -> None:
    total = sum(info.file_size for info in archive.infolist())
    if total > LIMITS.unzipped_bytes:
        raise CheckFailedError(
            f"{layer} unzips to {total:,} bytes, over Lambda's {LIMITS.unzipped_bytes:,}",
            hint="Lambda would refuse it; build a smaller layer",
        )
    for info in archive.infolist():
        target = (root / info.filename).resolve()
        if root not in target.parents and target != root:
            raise CheckFailedError(
                f"{layer}: member {info.filename!r} would land outside /opt",
                hint="run layerforge verify-abi on the layer",
            )


def extract_layer(layer: Path, destination: Path) -> None:
    """Extract ``layer`` as Lambda does into /opt; unsafe or corrupt members are errors."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with open_layer_zip(layer) as archive:
        _check_members(layer, archive, root)
        for info in archive.infolist():
            target = (destination / info.filename).resolve()
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise CheckFailedError(  # noqa: B904 - the zip error is the message
                    f"{layer}: member {info.filename!r} is corrupt ({exc})",
                    hint="Lambda could not extract it either: rebuild the layer",
                )
            target.chmod(_member_mode(info))
            stamp = time.mktime((*info.date_time, 0, 0, -1))  # unzip keeps the zip's times
            os.utime(target, (stamp, stamp))
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)


def prepare_tree(root: Path, layer: Path, code: Path | None) -> tuple[Path, Path, Path]:
    """/opt (the extracted layer), the runner folder and /var/task, ready to mount read-only."""
    root.chmod(0o755)
    extract_layer(layer, root / "opt")
    runner = root / "runner"
    runner.mkdir(mode=0o755)
    for name in ("lambda_runner.py", "smoke_harness.py"):
        (runner / name).write_text(script_source(name), "utf-8")
        (runner / name).chmod(0o644)
    task = code if code is not None else root / "task"
    task.mkdir(mode=0o755, exist_ok=True)
    return root / "opt", runner, task
