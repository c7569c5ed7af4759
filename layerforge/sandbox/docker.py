"""A Lambda-like container: the runtime image, the layer read-only at /opt, read-only root,
a tmpfs /tmp of the ephemeral size, the memory limit, Lambda's variables, an unprivileged user.

Unlike the AWS runtime interface emulator, it enforces the read-only filesystem.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerforge import containers
from layerforge.builder.docker import platform_of
from layerforge.containers import Completed, Container, Mount
from layerforge.events import EventSink
from layerforge.sandbox.environment import (
    RUNNER,
    RUNNER_DIR,
    TASK_ROOT,
    SandboxSpec,
    lambda_environment,
    prepare_tree,
)

__all__ = ["Call", "Invocation", "ModuleImport", "Sandbox", "docker_sandbox"]

#: Lambda's user (sbx_user1051); not in the image's passwd, so HOME is "/" (read-only).
LAMBDA_USER = "993:990"

_IMPORT_PROBE = """
import json, sys, time, traceback
name = sys.argv[1]
started = time.perf_counter()
try:
    __import__(name)
except BaseException as exc:
    lines = traceback.format_exc().strip().splitlines()
    print(json.dumps({"ok": False, "seconds": time.perf_counter() - started,
                      "error": f"{type(exc).__name__}: {exc}", "traceback": lines[-6:]}))
else:
    print(json.dumps({"ok": True, "seconds": time.perf_counter() - started}))
"""


@dataclass(frozen=True)
class ModuleImport:
    module: str
    ok: bool
    seconds: float
    error: str = ""
    traceback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """One handler run: the result (last stdout line, JSON) and every log line."""

    returncode: int
    result: Any
    logs: list[str]

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


Call = Callable[[Sequence[str]], Completed]


class Sandbox:
    """Commands in a running sandbox (a container, or bwrap): import a module, invoke a handler."""

    def __init__(
        self, call: Call, python: Sequence[str], spec: SandboxSpec, *, engine: str
    ) -> None:
        self.call, self.python, self.spec, self.engine = call, list(python), spec, engine

    def import_module(self, name: str) -> ModuleImport:
        """Import ``name`` in a fresh interpreter, as a cold start would."""
        done = self.call([*self.python, "-c", _IMPORT_PROBE, name])
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return ModuleImport(name, False, 0.0, f"interpreter died (exit {done.returncode})",
                                tuple(done.tail(6).splitlines()))  # fmt: skip
        return ModuleImport(
            name, bool(report["ok"]), float(report["seconds"]), report.get("error", ""),
            tuple(report.get("traceback", ())),
        )  # fmt: skip

    def invoke(self, handler: str, event: Mapping[str, Any]) -> Invocation:
        done = self.call([*self.python, RUNNER, handler, json.dumps(event)])
        lines = done.stdout.strip().splitlines()
        try:
            result = json.loads(lines[-1]) if lines else None
        except ValueError:
            result = None
        logs = done.stderr.splitlines() + lines[:-1]
        return Invocation(done.returncode, result, logs)


@contextmanager
def docker_sandbox(
    client: Any, layer: Path, spec: SandboxSpec, *, code: Path | None = None, sink: EventSink
) -> Iterator[Sandbox]:
    """A running sandbox with ``layer`` at /opt and ``code`` (if any) at /var/task."""
    image = spec.image or spec.runtime.image
    platform = platform_of(spec.architecture)
    containers.ensure_image(client, image, platform=platform, sink=sink)
    with tempfile.TemporaryDirectory(prefix="layerforge-sandbox-") as scratch:
        opt, runner, task = prepare_tree(Path(scratch), layer, code)
        mounts = [Mount(opt, "/opt"), Mount(runner, RUNNER_DIR), Mount(task, TASK_ROOT)]
        container = Container(
            client,
            image,
            mounts=mounts,
            environment=lambda_environment(spec),
            network_mode=spec.network,
            user=LAMBDA_USER,
            read_only=True,
            tmpfs={"/tmp": f"rw,exec,size={spec.ephemeral_mb}m,mode=1777"},
            memory=f"{spec.memory_mb}m",
            platform=platform,
            working_dir=TASK_ROOT,
        )
        with container:
            python = containers.find_python(container, spec.runtime.python_version)
            yield Sandbox(container.call, [python], spec, engine=f"docker ({image})")
