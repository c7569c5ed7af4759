"""Docker, behind one small interface: connect, make sure an image is there, run a container.

``Container`` is a context manager (the cibuildwheel model): it starts an idle container,
``call`` runs commands in it, and leaving the block removes it, also after an error or Ctrl-C.
The Docker client is passed in, so the same code talks to any daemon the SDK can reach.

Every live container is in one registry, whichever thread started it: the first signal removes
them all at once (which ends the commands running in them, so the threads waiting on those
return), and once the process is cancelled no container starts and no command runs. Each
container is labelled ``LABEL`` and ``OWNER_LABEL`` (the pid of the layerforge process that
started it), so what a run left behind can be told from anyone else's containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from layerforge.errors import ContainerError, LayerforgeError
from layerforge.events import Event, EventKind, EventSink
from layerforge.interrupts import check_cancelled, deferred, on_cancel
from layerforge.processes import Completed
from layerforge.runtimes import Architecture

__all__ = [
    "LABEL",
    "OWNER_LABEL",
    "Completed",
    "Container",
    "ContainerError",
    "LocalImage",
    "Mount",
    "connect",
    "daemon_has_bridge",
    "ensure_image",
    "find_python",
    "has_image",
    "image_id",
    "local_image_state",
    "platform_of",
    "probe_local_image",
]

#: Every container layerforge starts carries this label, so leftovers are easy to find.
LABEL = "org.layerforge.managed"
#: ... and this one, the pid of the layerforge process that started it.
OWNER_LABEL = "org.layerforge.pid"
_NONCE_LABEL = "org.layerforge.container"

_live: dict[int, Container] = {}
_live_lock = threading.RLock()  # re-entrant: a signal may come while the main thread holds it


@on_cancel
def _remove_all() -> None:
    """The first signal: every live container goes at once (each removal on its own thread)."""
    with _live_lock:
        live = list(_live.values())
    removals = [threading.Thread(target=c.remove, daemon=True) for c in live]
    for removal in removals:
        removal.start()
    for removal in removals:
        removal.join()


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class LocalImage:
    """What the local engine's socket says of an image: ``present`` is None when this quick
    look cannot tell (another DOCKER_HOST, no answer); ``id`` is its content id if present."""

    present: bool | None
    id: str | None = None


def platform_of(arch: Architecture) -> str:
    """The Docker platform of an architecture's images (``linux/amd64``, ``linux/arm64``)."""
    return f"linux/{'arm64' if arch is Architecture.ARM64 else 'amd64'}"


def probe_local_image(image: str, timeout: float = 2.0) -> LocalImage:
    """Ask the local engine over its Unix socket about ``image``, without loading the Docker
    SDK (a few milliseconds, where the SDK costs a third of a second). ``--backend auto``
    decides with it, and a warm docker build finds its cache entry (the key holds the image's
    id) before anything heavier is loaded."""
    import http.client  # with ssl, 5 ms: only this probe, never --help

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return LocalImage(None)
    path = host.removeprefix("unix://")
    if not Path(path).exists():
        return LocalImage(False)

    class _UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)

    connection = _UnixConnection("localhost", timeout=timeout)
    try:
        connection.request("GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        response = connection.getresponse()
        body = response.read(1 << 20)
    except OSError:
        return LocalImage(None)
    finally:
        connection.close()
    if response.status == 404:
        return LocalImage(False)
    try:
        found = json.loads(body).get("Id") if response.status == 200 else None
    except (ValueError, AttributeError):
        found = None
    return LocalImage(True, found) if isinstance(found, str) else LocalImage(None)


def local_image_state(image: str, timeout: float = 2.0) -> bool | None:
    """Whether the local engine has ``image`` (None: cannot tell), from ``probe_local_image``."""
    return probe_local_image(image, timeout).present


def connect(client_factory: Callable[[], Any] | None = None) -> Any:
    """A Docker client that has answered a ping, or a one-line error saying what to do."""
    import docker  # the SDK (and requests) load only when Docker is used

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = (client_factory or docker.from_env)()
        client.ping()
    except docker.errors.DockerException as exc:
        reason = str(exc)
        if "Permission denied" in reason or "PermissionError" in reason:
            raise ContainerError(
                f"permission denied on the Docker socket ({host})",
                hint="add your user to the docker group, or use --backend cross",
            ) from None
        raise ContainerError(
            f"cannot reach the Docker daemon at {host}",
            hint="start Docker (or set DOCKER_HOST), or use --backend cross",
            details=reason,
        ) from None
    return client


def daemon_has_bridge(client: Any) -> bool:
    """False when the daemon runs without its default bridge (then host networking it is)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        return bool(client.networks.list(names=["bridge"]))
    except docker.errors.DockerException:
        return False


def _pull(client: Any, image: str, platform: str | None, sink: EventSink) -> None:
    import docker.errors  # the SDK, loaded by connect() already
    import docker.utils  # the SDK, loaded by connect() already

    repository, tag = docker.utils.parse_repository_tag(image)
    layers: dict[str, tuple[int, int]] = {}
    sink(Event(EventKind.STARTED, "pull", image))
    stream = client.api.pull(
        repository, tag=tag or "latest", stream=True, decode=True, platform=platform
    )
    for message in stream:
        check_cancelled()
        if "error" in message:
            raise docker.errors.APIError(message["error"])
        detail = message.get("progressDetail") or {}
        if "id" in message and detail.get("total"):
            layers[message["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
            done = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            sink(Event(EventKind.PROGRESS, "pull", message.get("status", ""), done, total))
    sink(Event(EventKind.FINISHED, "pull", image))


def ensure_image(client: Any, image: str, *, platform: str | None = None, sink: EventSink) -> None:
    """Use the local image, or pull it with progress events; a clear error if neither works."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None
    try:
        _pull(client, image, platform, sink)
    except docker.errors.DockerException as exc:
        raise ContainerError(
            f"image {image} is not available locally and could not be pulled"
            + (f" for {platform}" if platform else ""),
            hint="pass --image with an image you have, or use --backend cross",
            details=str(exc),
        ) from None


@dataclass
class Container:
    """An idle container to run commands in; removed when the ``with`` block ends."""

    client: Any
    image: str
    mounts: Sequence[Mount] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    network_mode: str | None = None
    user: str | None = None
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    memory: str | None = None
    platform: str | None = None
    working_dir: str | None = None
    _container: Any = None
    _nonce: str = ""  # this container's own label value, set before it is created

    def __enter__(self) -> Container:
        import docker.errors  # the SDK, loaded by connect() already

        check_cancelled()
        self._nonce = uuid.uuid4().hex
        try:
            # a signal is held while the engine creates it (the request would otherwise be cut
            # before the answer named the container); its own label finds one that a failed
            # request may still have made
            with deferred():
                self._create()
            self._container.start()
            check_cancelled()  # cancelled meanwhile: the registry's removal may have missed it
        except docker.errors.DockerException as exc:
            self.__exit__(None, None, None)
            check_cancelled()  # removed by the cancellation as it started
            raise ContainerError(f"cannot start a container from {self.image}: {exc}") from None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _create(self) -> None:
        """Create the container (not started) and register it the moment it exists."""
        volumes = {
            str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in self.mounts
        }
        self._container = self.client.containers.create(
            self.image,
            entrypoint=["sleep", "infinity"],
            command=[],
            volumes=volumes,
            environment=dict(self.environment),
            network_mode=self.network_mode,
            user=self.user,
            read_only=self.read_only,
            tmpfs=dict(self.tmpfs),
            mem_limit=self.memory,
            platform=self.platform,
            working_dir=self.working_dir,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            labels={LABEL: "1", OWNER_LABEL: str(os.getpid()), _NONCE_LABEL: self._nonce},
        )
        with _live_lock:
            _live[id(self)] = self

    def remove(self) -> None:
        """Remove the container (from any thread, as often as asked): what runs in it ends.
        One whose creation failed (the engine may have made it, unanswered) is found by its own
        label."""
        import docker.errors

        with contextlib.suppress(docker.errors.DockerException):  # already gone
            if self._container is not None:
                self._container.remove(force=True)
            elif self._nonce:
                found = self.client.containers.list(
                    all=True, filters={"label": f"{_NONCE_LABEL}={self._nonce}"}
                )
                for container in found:
                    container.remove(force=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._container is not None or self._nonce:
            with deferred():
                self.remove()
            with _live_lock:
                _live.pop(id(self), None)
            self._container, self._nonce = None, ""

    @property
    def id(self) -> str:
        return str(self._container.id)

    def call(
        self,
        command: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
        workdir: str | None = None,
    ) -> Completed:
        """Run ``command``; ``on_line`` sees each output line as it comes."""
        import docker.errors  # the SDK, loaded by connect() already

        check_cancelled()
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self._container.id,
                list(command),
                environment=dict(environment or {}),
                workdir=workdir,
                stdout=True,
                stderr=True,
            )["Id"]
            stdout: list[str] = []
            stderr: list[str] = []
            for out, err in api.exec_start(exec_id, stream=True, demux=True):
                for chunk, sink in ((out, stdout), (err, stderr)):
                    if chunk:
                        text = chunk.decode("utf-8", "replace")
                        sink.append(text)
                        if on_line is not None:
                            for line in text.splitlines():
                                on_line(line)
            code = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.DockerException as exc:
            check_cancelled()  # the container was removed by the cancellation
            raise ContainerError(f"running {command[0]} in {self.image} failed: {exc}") from None
        check_cancelled()  # ended by the cancellation: its output means nothing
        return Completed(int(code if code is not None else -1), "".join(stdout), "".join(stderr))


def find_python(container: Container, version: str) -> str:
    """The image's own interpreter of ``version`` (Lambda images keep it in /var/lang/bin)."""
    candidates = [f"/var/lang/bin/python{version}", f"python{version}", "python3"]
    script = (
        'for p in "$@"; do command -v "$p" >/dev/null 2>&1 && '
        '"$p" -c "import sys; print(sys.executable, \'%d.%d\' % sys.version_info[:2])"; '
        "done; true"
    )
    found = container.call(["sh", "-c", script, "sh", *candidates])
    for line in found.stdout.splitlines():
        path, _, reported = line.rpartition(" ")
        if reported == version:
            return path
    raise LayerforgeError(
        f"no Python {version} in image {container.image}",
        hint="choose the image of the runtime you build for (--image), or --backend cross",
        details=found.tail(),
    )


def has_image(client: Any, image: str) -> bool:
    """Whether the daemon has ``image`` locally (nothing is pulled)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None
    return True


def image_id(client: Any, image: str) -> str:
    """The content id of a local image (a tag can move; the id cannot)."""
    import docker.errors  # the SDK, loaded by connect() already

    try:
        return str(client.images.get(image).id)
    except docker.errors.DockerException as exc:
        raise ContainerError(f"cannot inspect image {image}: {exc}") from None


def iter_labelled(client: Any) -> Iterator[Any]:
    """Containers layerforge started that still exist (for cleanup checks)."""
    yield from client.containers.list(all=True, filters={"label": LABEL})
