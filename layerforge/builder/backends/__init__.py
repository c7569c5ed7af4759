"""Build backends: where pip (or uv) runs and the bytecode is compiled: ``cross`` on this host,
``docker`` inside the runtime's image. ``select.select_backend`` picks one for a spec.

A backend is not an installer: the backend says *where* (cross | docker), its ``installer``
says *who* installs the wheels there (pip | uv | pip+uv, ``install.choice``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from layerforge.builder.post.bytecode import BytecodeJob
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import ResolvedDistribution, StepReport
from layerforge.events import EventSink
from layerforge.interpreters import Interpreter

__all__ = ["BackendSession", "BuildBackend"]


class BackendSession(Protocol):
    """A backend at work: installs into the tree and compiles its bytecode."""

    def install(self, tree: Path) -> list[ResolvedDistribution]: ...

    def start_bytecode(self, tree: Path) -> BytecodeJob: ...

    def write_font_list(self, tree: Path) -> StepReport: ...


class BuildBackend(Protocol):
    """A backend: opens a session (a container, a scratch folder) for one build."""

    #: the backend, as the manifest records it: "cross" or "docker"
    name: str

    @property
    def installer(self) -> str:
        """Who installs the wheels, as the manifest records it: "pip", "uv" or "pip+uv"."""
        ...

    @property
    def bytecode(self) -> Interpreter | None:
        """The host interpreter that compiles the bytecode (None: the image's own does)."""
        ...

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]: ...

    def session(
        self, spec: LayerSpec, work: Path, sink: EventSink
    ) -> AbstractContextManager[BackendSession]: ...
