"""The docker backend: pip and bytecode run inside the runtime's own image (Docker SDK).

pip gets the same binary-only, every-compatible-tag arguments as the cross backend, so the
result does not depend on the image's own glibc; the image's interpreter compiles the bytecode,
so the magic number is the runtime's whatever the host runs. The image's pip always chooses the
wheels: with uv on the host (``--installer auto``, ``pip+uv``) it downloads them and uv unpacks
exactly those files into the tree (the same bytes as pip's install, tested; faster than the
image's own pip, which unpacks on one core); with ``--installer pip`` it installs them itself.
Local wheels and find-links folders are mounted read-only. Post-processing, zip, checks and
placement are the builder's.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from layerforge.builder.install.choice import PIP_ENVIRONMENT, InstallPlan
from layerforge.builder.post import bytecode, fontcache
from layerforge.builder.request import LayerSpec
from layerforge.builder.result import ResolvedDistribution, StepReport
from layerforge.containers import (
    Container,
    Mount,
    connect,
    daemon_has_bridge,
    find_python,
    image_id,
    platform_of,
)
from layerforge.errors import BuildError, ContainerError
from layerforge.events import Event, EventKind, EventSink
from layerforge.inputs import InputRequirement, Inputs
from layerforge.interpreters import Interpreter, find_interpreter

__all__ = ["DockerBackend", "forwarded_environment"]

WORK = "/work"
INPUTS = "/inputs"
CA_BUNDLE = "/etc/layerforge/ca-bundle.pem"
_FORWARDED = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_RETRIES",
    "PIP_CONSTRAINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
_KILLED = 137  # 128 + SIGKILL: Docker's OOM killer, or docker kill/stop


def host_ca_bundle(environ: dict[str, str]) -> Path | None:
    """The CA bundle the host's pip trusts, if one is configured."""
    for name in _CA_VARIABLES:
        value = environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def forwarded_environment(environ: dict[str, str]) -> dict[str, str]:
    """What a corporate network needs inside the container: index, proxies, CA bundle."""
    forwarded = {name: environ[name] for name in _FORWARDED if environ.get(name)}
    forwarded.pop("PIP_CONSTRAINT", None)  # a host path; constraints travel as files instead
    if host_ca_bundle(environ) is not None:
        forwarded["PIP_CERT"] = CA_BUNDLE
    return {
        **forwarded,
        "HOME": "/tmp",
        "PIP_NO_CACHE_DIR": "1",
        **PIP_ENVIRONMENT,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _local_paths(inputs: Inputs) -> list[Path]:
    paths = [
        Path(r.text) for r in (*inputs.requirements, *inputs.constraints) if r.text.startswith("/")
    ]
    paths += [Path(link) for link in inputs.find_links if Path(link).exists()]
    return sorted(set(paths))


def _mapped_inputs(inputs: Inputs, mapping: dict[str, str]) -> Inputs:
    """``inputs`` with host paths replaced by where they are mounted in the container."""

    def moved(items: tuple[InputRequirement, ...]) -> tuple[InputRequirement, ...]:
        return tuple(replace(r, text=mapping.get(r.text, r.text)) for r in items)

    return replace(
        inputs,
        requirements=moved(inputs.requirements),
        constraints=moved(inputs.constraints),
        find_links=tuple(mapping.get(link, link) for link in inputs.find_links),
    )


class DockerSession:
    """A running build container with the work folder at /work."""

    def __init__(
        self,
        *,
        spec: LayerSpec,
        container: Container,
        work: Path,
        python: str,
        sink: EventSink,
        mapping: dict[str, str],
        plan: InstallPlan,
        unpack_python: str,
    ) -> None:
        self.spec, self.container, self.work, self.python = spec, container, work, python
        self.sink, self.mapping = sink, mapping
        self.plan, self.unpack_python = plan, unpack_python

    def _inside(self, path: Path) -> str:
        return f"{WORK}/{path.relative_to(self.work).as_posix()}"

    def _progress(self, step: str) -> Any:
        return lambda line: self.sink(Event(EventKind.PROGRESS, step, line.strip()))

    def install(self, tree: Path) -> list[ResolvedDistribution]:
        from layerforge.builder.install.index import PackageIndex  # a cache hit needs none of this
        from layerforge.builder.install.pip import (
            InstallFiles,
            PipTarget,
            explain_pip_failure,
            write_install_files,
        )
        from layerforge.builder.install.uv import PipRun

        target = PipTarget(self.spec.runtime, self.spec.architecture)
        inputs = _mapped_inputs(self.spec.inputs, self.mapping)
        requirements, constraints = write_install_files(self.work, inputs)
        report = self.work / "report.json"
        files = InstallFiles(
            self._inside(requirements),
            self._inside(constraints) if constraints else None,
            self._inside(report),
        )
        run = PipRun(self.plan, target, tree, self.work / "wheels", report)
        args = run.arguments(files, inputs, self._inside)
        # pip --target unpacks into a temporary folder and then moves it to the target: in the
        # container's /tmp (another file system) every byte would be copied; beside the tree,
        # in the work folder, the move is a rename
        temporary = self.work / "tmp"
        temporary.mkdir(exist_ok=True)
        done = self.container.call(
            [self.python, "-m", "pip", *args],
            environment={"TMPDIR": self._inside(temporary)},
            on_line=self._progress("resolve"),
        )
        if done.returncode == _KILLED:
            raise BuildError(
                f"the build container ({self.container.image}) was killed during pip (exit 137)",
                hint="Docker's memory limit or an OOM kill, or someone stopped it: give Docker "
                "more memory, then retry",
                details=done.tail(),
            )
        if done.returncode != 0:
            index = PackageIndex(self.spec.inputs.index_url)
            raise explain_pip_failure(done.output, target, index, self.spec.inputs)
        return run.installed(
            scratch=self.work, python=self.unpack_python, inputs=self.spec.inputs, sink=self.sink
        )

    def start_bytecode(self, tree: Path) -> bytecode.BytecodeJob:
        plan = bytecode.write_plan(tree, self.work / "bytecode-plan.json", root=self._inside(tree))
        return bytecode.ThreadedBytecode(lambda: self._compile(tree, plan))

    def _compile(self, tree: Path, plan: Path) -> StepReport:
        done = self.container.call(
            bytecode.compile_command(self.python, self._inside(plan)),
            environment=bytecode.BYTECODE_ENVIRONMENT,
        )
        if done.returncode not in (0, 1):  # 1: some file did not compile (reported)
            raise BuildError(
                f"compileall failed in {self.container.image} (exit {done.returncode})",
                details=done.tail(),
            )
        image = f"{self.python} in {self.container.image}"
        return bytecode.bytecode_report(tree, done.output, image)

    def write_font_list(self, tree: Path) -> StepReport:
        """matplotlib's font list, by the image's interpreter (emulated for another
        architecture, as the bytecode is)."""
        label = f"{self.python} in {self.container.image}"
        how = fontcache.FontListRun(self.container.call, self.python, label, self._inside)
        return fontcache.write_font_list(tree, self.work, how)


class DockerBackend:
    """Builds inside ``image`` (the runtime's base image by default) through the Docker SDK."""

    name = "docker"

    def __init__(
        self,
        client: Any | None,
        image: str,
        *,
        plan: InstallPlan,
        network: str | None = None,
        image_id: str | None = None,
    ) -> None:
        """``client`` None: connect when a build needs the engine (a cache hit never does);
        ``image_id``: the image's id as the engine's socket gave it; ``plan``: pip, or pip+uv
        (the image's pip downloads, uv on the host unpacks)."""
        self._client, self.image, self.network, self.known_id = client, image, network, image_id
        self.plan = plan
        self._unpack_python: tuple[str, str] | None = None

    @property
    def installer(self) -> str:
        return self.plan.name

    @property
    def bytecode(self) -> Interpreter | None:
        """None: the image's own interpreter compiles the bytecode."""
        return None

    def unpack_python(self, spec: LayerSpec) -> tuple[str, str]:
        """The host interpreter uv unpacks with, and its version: the runtime's version where
        the host has it (as the cross backend's), else layerforge's own. It decides nothing the
        layer keeps (the scripts whose shebang would name it are pruned); the key names it."""
        if self._unpack_python is None:
            found = find_interpreter(spec.runtime.python)
            self._unpack_python = (
                (found.path, found.full_version)
                if found is not None
                else (sys.executable, platform.python_version())
            )
        return self._unpack_python

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def cache_inputs(self, spec: LayerSpec) -> dict[str, object]:
        environ = dict(os.environ)
        return {
            "image": self.image,
            "image_id": self.known_id or image_id(self.client, self.image),
            "forwarded": forwarded_environment(environ),
            **self.plan.cache_inputs(lambda: self.unpack_python(spec)[1]),
        }

    def _check_image(self) -> None:
        """The image the build runs is the one its cache key names."""
        if self.known_id is not None and image_id(self.client, self.image) != self.known_id:
            raise ContainerError(
                f"image {self.image} changed while the build was starting",
                hint="retry: the build uses the image as it is then",
            )

    def _container(self, spec: LayerSpec, work: Path, mapping: dict[str, str]) -> Container:
        environ = dict(os.environ)
        mounts = [Mount(work, WORK, read_only=False)]
        mounts += [Mount(Path(host), inside) for host, inside in mapping.items()]
        ca_bundle = host_ca_bundle(environ)
        if ca_bundle is not None:
            mounts.append(Mount(ca_bundle.resolve(), CA_BUNDLE, read_only=True))
        network = self.network or (None if daemon_has_bridge(self.client) else "host")
        return Container(
            self.client,
            self.image,
            mounts=mounts,
            environment=forwarded_environment(environ),
            network_mode=network,
            user=f"{os.getuid()}:{os.getgid()}",  # files on the host stay the caller's
            read_only=True,
            tmpfs={"/tmp": "rw,exec,size=2g"},
            platform=platform_of(spec.architecture),
            working_dir=WORK,
        )

    @contextmanager
    def session(self, spec: LayerSpec, work: Path, sink: EventSink) -> Iterator[DockerSession]:
        self._check_image()
        work.chmod(0o755)
        mapping = {
            str(p): f"{INPUTS}/{i}/{p.name}" for i, p in enumerate(_local_paths(spec.inputs))
        }
        with self._container(spec, work, mapping) as container:
            python = find_python(container, spec.runtime.python_version)
            sink(Event(EventKind.NOTE, "backend", f"building in {self.image} with {python}"))
            note = f"installer {self.installer}: {self.plan.why}"
            sink(Event(EventKind.NOTE, "installer", note))
            yield DockerSession(
                spec=spec,
                container=container,
                work=work,
                python=python,
                sink=sink,
                mapping=mapping,
                plan=self.plan,
                unpack_python=self.unpack_python(spec)[0] if self.plan.uses_uv else "",
            )
