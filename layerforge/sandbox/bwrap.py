"""The sandbox without Docker: bubblewrap around an interpreter of the runtime's version.

The same shape as the container: the layer read-only at /opt, the code at /var/task, a read-only
root, a fresh tmpfs /tmp, Lambda's user (993) and variables, no network unless asked. The
interpreter is the real one (a virtualenv's ``bin/python`` is a link into a prefix the sandbox
would not see; ``sys._base_executable`` inside ``sys.base_prefix`` is what runs), started with
``-S`` so no site-packages of the host leak in; boto3 (which Lambda keeps in /var/runtime) is
mounted from the host. For another architecture, the root is a root filesystem of that
architecture (``--rootfs`` / LAYERFORGE_ROOTFS_ARM64) and its Python runs under the registered
emulator. Differences from Lambda, reported in the engine's name: the OS libraries are the
host's (or the root filesystem's), and there is no memory limit.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from layerforge.errors import SandboxError
from layerforge.interpreters import Interpreter, find_interpreter
from layerforge.processes import Completed, run, run_streaming
from layerforge.sandbox.base import Sandbox
from layerforge.sandbox.emulation import is_emulated, require_emulation, rootfs_for
from layerforge.sandbox.environment import (
    RUNNER_DIR,
    TASK_ROOT,
    SandboxSpec,
    lambda_environment,
    prepare_tree,
)
from layerforge.scratch import scratch_dir

__all__ = ["bwrap_available", "bwrap_sandbox"]

LAMBDA_UID, LAMBDA_GID = "993", "990"
_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_LOCATE = """
import importlib.util, sys
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        folders = spec.submodule_search_locations
        print(name, folders[0] if folders else spec.origin)
"""


def bwrap_available() -> str | None:
    return shutil.which("bwrap")


@dataclass(frozen=True)
class _Root:
    """What the sandbox's / is made of, and the Python to run in it."""

    arguments: list[str]
    python: str
    label: str


def _bind_system(base: Path) -> list[str]:
    arguments = ["--ro-bind", str(base / "usr"), "/usr", "--ro-bind", str(base / "etc"), "/etc"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = base / name
        if path.is_symlink():
            arguments += ["--symlink", str(path.readlink()), f"/{name}"]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), f"/{name}"]
    return arguments


def _host_root(interpreter: Interpreter) -> _Root:
    arguments = _bind_system(Path("/"))
    prefix = interpreter.base_prefix
    if not prefix.startswith("/usr"):
        arguments += ["--ro-bind", prefix, prefix]
    return _Root(arguments, interpreter.base_executable, f"bwrap ({interpreter.base_executable})")


def _foreign_root(rootfs: Path, spec: SandboxSpec) -> _Root:
    version = spec.runtime.python_version
    python = f"/usr/bin/python{version}"
    if not (rootfs / python.lstrip("/")).exists():
        raise SandboxError(
            f"root filesystem {rootfs} has no {python}",
            hint=f"use a root filesystem with Python {version}",
        )
    label = f"bwrap ({spec.architecture.value} root {rootfs}, emulated)"
    return _Root(_bind_system(rootfs), python, label)


def _runtime_packages() -> dict[str, Path]:
    """Where the host keeps boto3 and its dependencies (Lambda provides them in /var/runtime)."""
    done = run([sys.executable, "-c", _LOCATE, *_RUNTIME_PACKAGES], timeout=60)
    found = {}
    for line in done.stdout.splitlines():
        name, _, location = line.partition(" ")
        if location:
            found[name] = Path(location)
    return found


def _command(spec: SandboxSpec, tree: tuple[Path, Path, Path], root: _Root) -> list[str]:
    opt, runner, task = tree
    tool = bwrap_available()
    assert tool is not None
    arguments = [tool, "--unshare-all", "--die-with-parent", "--new-session"]
    if spec.network == "host":
        arguments.append("--share-net")
    arguments += root.arguments
    arguments += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--ro-bind",
        str(opt),
        "/opt",
        "--ro-bind",
        str(runner),
        RUNNER_DIR,
        "--ro-bind",
        str(task),
        TASK_ROOT,
    ]
    for location in _runtime_packages().values():
        arguments += ["--ro-bind", str(location), f"/var/runtime/{location.name}"]
    arguments += ["--remount-ro", "/", "--unshare-user", "--uid", LAMBDA_UID, "--gid", LAMBDA_GID]
    arguments += ["--clearenv", "--chdir", TASK_ROOT]
    for name, value in lambda_environment(spec).items():
        arguments += ["--setenv", name, value]
    return arguments


def _root(spec: SandboxSpec) -> _Root:
    if not bwrap_available():
        raise SandboxError(
            "no sandbox available: no Docker engine, and no bwrap on this host",
            hint="start Docker, or install bubblewrap",
        )
    if is_emulated(spec.architecture):
        require_emulation(spec.architecture)
        rootfs = rootfs_for(spec.architecture, spec.rootfs)
        if rootfs is None:
            raise SandboxError(
                f"no {spec.architecture.value} root filesystem for the bubblewrap sandbox",
                hint=f"pass --rootfs DIR (or set LAYERFORGE_ROOTFS_{spec.architecture.name}) to a "
                f"Debian root filesystem for {spec.architecture.value} (debootstrap --arch "
                f"{spec.architecture.value}), or use Docker with an image for it",
            )
        return _foreign_root(rootfs, spec)
    interpreter = find_interpreter(spec.runtime.python)
    if interpreter is None:
        version = spec.runtime.python_version
        raise SandboxError(
            f"no sandbox available: no Docker engine, and no python{version} on this host",
            hint=f"start Docker, or install Python {version} (pyenv, uv python install)",
        )
    return _host_root(interpreter)


def _runner(wrapper: list[str]) -> Callable[..., Completed]:
    def call(
        command: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Completed:
        if on_line is not None:
            return run_streaming([*wrapper, *command], on_line=on_line, timeout=timeout)
        return run([*wrapper, *command], timeout=timeout)

    return call


@contextmanager
def bwrap_sandbox(layer: Path, spec: SandboxSpec, *, code: Path | None = None) -> Iterator[Sandbox]:
    """A bubblewrap sandbox; a clear error when bwrap, the interpreter or emulation is missing."""
    root = _root(spec)
    with scratch_dir("layerforge-bwrap-") as scratch:
        wrapper = _command(spec, prepare_tree(scratch, layer, code), root)
        sandbox = Sandbox(
            _runner(wrapper),
            [root.python, "-S"],
            spec,
            engine=root.label,
            emulated=is_emulated(spec.architecture),
        )
        sandbox.check_started()
        yield sandbox
