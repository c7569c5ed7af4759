"""The sandbox without Docker: bubblewrap around a host interpreter of the runtime's version.

The same shape as the container: the layer read-only at /opt, the code at /var/task, a
read-only root, a fresh tmpfs /tmp, Lambda's user (993) and variables, no network unless asked.
Differences, reported as the engine's name: the host's OS libraries instead of the runtime
image's, and no memory limit. The interpreter runs with ``-S``, so nothing of the host's
site-packages leaks in; boto3 (which Lambda provides in /var/runtime) is mounted from the host.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from layerforge.containers import Completed
from layerforge.errors import LayerforgeError
from layerforge.interpreters import find_interpreter
from layerforge.sandbox.docker import Sandbox
from layerforge.sandbox.environment import (
    RUNNER_DIR,
    TASK_ROOT,
    SandboxSpec,
    lambda_environment,
    prepare_tree,
)

__all__ = ["bwrap_available", "bwrap_sandbox"]

LAMBDA_UID, LAMBDA_GID = "993", "990"
_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_LOCATE = """
import importlib.util, sys
print("prefix", sys.base_prefix)
for name in sys.argv[1:]:
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        folders = spec.submodule_search_locations
        print(name, folders[0] if folders else spec.origin)
"""


def bwrap_available() -> str | None:
    return shutil.which("bwrap")


def _host_facts(python: Path) -> tuple[Path, dict[str, Path]]:
    done = subprocess.run([str(python), "-c", _LOCATE, *_RUNTIME_PACKAGES], capture_output=True,
                          text=True, check=True)  # fmt: skip
    prefix, packages = Path("/usr"), {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "prefix":
            prefix = Path(value)
        else:
            packages[key] = Path(value)
    return prefix, packages


def _root_arguments() -> list[str]:
    arguments = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            arguments += ["--symlink", str(path.readlink()), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    return arguments


def _command(
    spec: SandboxSpec, tree: tuple[Path, Path, Path], prefix: Path, packages: dict[str, Path]
) -> list[str]:  # fmt: skip
    opt, runner, task = tree
    tool = bwrap_available()
    assert tool is not None
    arguments = [tool, "--unshare-all", "--die-with-parent", "--new-session"]
    if spec.network == "host":
        arguments.append("--share-net")
    arguments += _root_arguments()
    if not str(prefix).startswith("/usr"):
        arguments += ["--ro-bind", str(prefix), str(prefix)]
    arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                  "--ro-bind", str(opt), "/opt", "--ro-bind", str(runner), RUNNER_DIR,
                  "--ro-bind", str(task), TASK_ROOT]  # fmt: skip
    for location in packages.values():
        arguments += ["--ro-bind", str(location), f"/var/runtime/{location.name}"]
    arguments += ["--remount-ro", "/", "--unshare-user", "--uid", LAMBDA_UID, "--gid", LAMBDA_GID]
    arguments += ["--clearenv", "--chdir", TASK_ROOT]
    for name, value in lambda_environment(spec).items():
        arguments += ["--setenv", name, value]
    return arguments


@contextmanager
def bwrap_sandbox(layer: Path, spec: SandboxSpec, *, code: Path | None = None) -> Iterator[Sandbox]:
    """A bubblewrap sandbox; a clear error when bwrap or the interpreter is missing."""
    python = find_interpreter(spec.runtime.python)
    needed = {"bwrap": bwrap_available(), f"python{spec.runtime.python_version}": python}
    missing = [what for what, found in needed.items() if not found]
    if missing or python is None:
        raise LayerforgeError(
            f"no sandbox available: no Docker engine, and no {' or '.join(missing)} on this host",
            hint="start Docker, or install bubblewrap and a Python of the runtime's version",
        )
    prefix, packages = _host_facts(python)
    with tempfile.TemporaryDirectory(prefix="layerforge-bwrap-") as scratch:
        wrapper = _command(spec, prepare_tree(Path(scratch), layer, code), prefix, packages)

        def call(command: Sequence[str]) -> Completed:
            done = subprocess.run([*wrapper, *command], capture_output=True, text=True,
                                  timeout=spec.timeout_s, check=False)  # fmt: skip
            return Completed(done.returncode, done.stdout, done.stderr)

        yield Sandbox(call, [str(python), "-S"], spec, engine=f"bwrap ({python})")
