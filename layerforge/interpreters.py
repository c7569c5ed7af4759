"""Host interpreters of a given Python version (for bytecode, and for the bubblewrap sandbox).

Each candidate is asked, not guessed: its version, and the real interpreter behind it (a
virtualenv's ``bin/python`` is a link that is meaningless inside a sandbox; ``sys._base_executable``
inside ``sys.base_prefix`` is the program to run). Answers are remembered per file (path, size,
mtime), so repeated builds do not start the same interpreter again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from layerforge.errors import UsageError
from layerforge.locations import default_cache_dir
from layerforge.processes import run

__all__ = [
    "Interpreter",
    "find_interpreter",
    "find_interpreters",
    "interpreters_with_pip",
    "probe_interpreter",
    "remembered_output",
    "require_interpreter",
]

_PROBE = """
import json, os, sys
try:
    from importlib.metadata import version
    pip = version("pip")
except Exception:
    pip = ""
print(json.dumps({
    "version": list(sys.version_info[:2]),
    "full_version": "%d.%d.%d" % sys.version_info[:3],
    "base_executable": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
    "base_prefix": os.path.realpath(sys.base_prefix),
    "prefix": sys.prefix,
    "pip": pip,
}))
"""


@dataclass(frozen=True)
class Interpreter:
    """A working interpreter: the path it was found at, and what it reported about itself."""

    path: str
    version: tuple[int, int]
    full_version: str
    base_executable: str
    base_prefix: str
    prefix: str = ""
    pip: str = ""  # the version of pip it could import when probed, "" for none

    def pip_version(self) -> str:
        """The version of pip installed for it now (read from disk, not remembered)."""
        version = f"{self.version[0]}.{self.version[1]}"
        found = sorted(Path(self.prefix).glob(f"lib/python{version}/site-packages/pip-*.dist-info"))
        return found[-1].name[len("pip-") : -len(".dist-info")] if found else self.pip

    def describe(self) -> str:
        return f"{self.path} ({self.full_version})"


def _memo_file() -> Path:
    return default_cache_dir() / "interpreters.json"


def _fingerprint(path: Path) -> str | None:
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except OSError:
        return None
    return f"{path.absolute()}:{resolved}:{stat.st_size}:{stat.st_mtime_ns}"


def _read_memo() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_memo_file().read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_memo(memo: dict[str, dict[str, object]]) -> None:
    path = _memo_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        temporary.write_text(json.dumps(memo), "utf-8")
        temporary.replace(path)
    except OSError:
        return  # an unwritable cache only costs a probe next time


#: The memo is read, changed and written by every thread that probes (a matrix's builds).
_memo_lock = threading.Lock()


def _remember(key: str, facts: dict[str, object]) -> None:
    with _memo_lock:
        memo = _read_memo()
        memo[key] = facts
        _write_memo(memo)


def _interpreter(path: Path, facts: dict[str, object]) -> Interpreter | None:
    try:
        version = facts["version"]
        assert isinstance(version, list)
        return Interpreter(
            path=str(path),
            version=(int(version[0]), int(version[1])),
            full_version=str(facts["full_version"]),
            base_executable=str(facts["base_executable"]),
            base_prefix=str(facts["base_prefix"]),
            prefix=str(facts.get("prefix", "")),
            pip=str(facts.get("pip", "")),
        )
    except (KeyError, TypeError, ValueError, AssertionError):
        return None


def _ask(path: Path) -> Interpreter | None:
    done = run([str(path), "-I", "-c", _PROBE], timeout=30)
    if done.returncode != 0 or done.timed_out:
        return None
    try:
        facts = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
    return _interpreter(path, facts) if isinstance(facts, dict) else None


@cache
def probe_interpreter(path: Path) -> Interpreter | None:
    """What ``path`` reports when run, or None if it is not a working Python."""
    fingerprint = _fingerprint(path)
    if fingerprint is None or not os.access(path, os.X_OK) or path.is_dir():
        return None
    remembered = _read_memo().get(fingerprint)
    if isinstance(remembered, dict) and (found := _interpreter(path, remembered)) is not None:
        return found
    found = _ask(path)
    if found is not None:
        _remember(fingerprint, {k: v for k, v in asdict(found).items() if k != "path"})
    return found


def remembered_output(path: Path, arguments: list[str]) -> str | None:
    """What ``path arguments`` prints (a tool's ``--version``), remembered while the file is
    unchanged, as probes are: a warm build starts no process."""
    fingerprint = _fingerprint(path)
    if fingerprint is None:
        return None
    key = f"{fingerprint}|{' '.join(arguments)}"
    remembered = _read_memo().get(key)
    if isinstance(remembered, dict) and isinstance(remembered.get("stdout"), str):
        return str(remembered["stdout"])
    done = run([str(path), *arguments], timeout=30)
    if done.returncode != 0 or done.timed_out:
        return None
    _remember(key, {"stdout": done.stdout.strip()})
    return done.stdout.strip()


def _candidates(version: tuple[int, int]) -> Iterator[Path]:
    name = f"python{version[0]}.{version[1]}"
    if sys.version_info[:2] == version:
        yield Path(sys.executable)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = shutil.which(name)
    # pyenv's shims are shell scripts that fail for versions pyenv lacks (a fifth of a second
    # each time); the versions they would run are found directly below
    if found and Path(found).parent != pyenv_root / "shims":
        yield Path(found)
    yield from sorted(pyenv_root.glob(f"versions/{version[0]}.{version[1]}.*/bin/{name}"))
    uv_root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR", Path.home() / ".local/share/uv/python"))
    yield from sorted(uv_root.glob(f"cpython-{version[0]}.{version[1]}.*/bin/{name}"))
    for prefix in ("/usr/local/bin", "/usr/bin"):
        yield Path(prefix) / name


def find_interpreters(version: tuple[int, int]) -> Iterator[Interpreter]:
    """Every working host interpreter that reports ``version``, best first."""
    seen: set[str] = set()
    for candidate in _candidates(version):
        found = probe_interpreter(candidate)
        if found is not None and found.version == version and found.path not in seen:
            seen.add(found.path)
            yield found


def find_interpreter(version: tuple[int, int]) -> Interpreter | None:
    """A working host interpreter that reports ``version``, or None."""
    return next(find_interpreters(version), None)


def interpreters_with_pip(version: tuple[int, int]) -> Iterator[Interpreter]:
    """Interpreters that can run pip: the target version's first, then the running one, the
    base interpreter behind a virtualenv (``uv tool`` and ``--without-pip`` venvs have no pip),
    and ``python3`` on PATH."""
    yield from (i for i in find_interpreters(version) if i.pip)
    others = [Path(sys.executable), Path(getattr(sys, "_base_executable", sys.executable))]
    others += [Path(p) for p in (shutil.which("python3"),) if p]
    for candidate in others:
        found = probe_interpreter(candidate)
        if found is not None and found.pip:
            yield found


def require_interpreter(path: Path, version: tuple[int, int]) -> Interpreter:
    """``path`` (from --python) must be a working Python of ``version``."""
    found = probe_interpreter(path)
    wanted = f"{version[0]}.{version[1]}"
    if found is None:
        raise UsageError(
            f"--python {path} is not a working Python interpreter",
            hint=f"give the path of a python{wanted}",
        )
    if found.version != version:
        raise UsageError(
            f"--python {path} is Python {found.full_version}, but the runtime needs {wanted}",
            hint=f"give the path of a python{wanted}, or choose the runtime it matches",
        )
    return found
