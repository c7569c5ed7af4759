"""Compiles a layer's modules on every core, for ``layerforge build``.

The *target* interpreter runs this file (``python -c <source> PLAN``), so it must work on any
Python a Lambda runtime has (3.9 and later) and import nothing but the standard library. The
plan (JSON) names the tree as this interpreter sees it and the modules of each worker; each
module goes through ``compileall.compile_file`` exactly as ``python -m compileall -q -s TREE
-p /opt/python --invalidation-mode unchecked-hash TREE`` would compile it, so the bytes are the
same; only the pool differs: one forked process per list, no per-file hand-off.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import sys
from pathlib import Path


def compile_modules(root: str, prefix: str, modules: list[str]) -> bool:
    """Compile ``modules`` (paths relative to ``root``); errors are printed as compileall
    prints them (``*** Error compiling ...``). True if every module compiled."""
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    compiled = True
    for relative in modules:
        path = os.path.join(root, relative)  # noqa: PTH118 - the string compileall's walk makes
        ok = compileall.compile_file(
            path, quiet=1, invalidation_mode=mode, stripdir=root, prependdir=prefix
        )
        compiled = bool(ok) and compiled
    return compiled


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[1]).read_text("utf-8"))
    root, prefix, lists = plan["root"], plan["prefix"], plan["workers"]
    children = []
    for modules in lists[1:]:
        sys.stdout.flush()  # nothing buffered is printed twice
        child = os.fork()
        if child == 0:
            code = 0 if compile_modules(root, prefix, modules) else 1
            sys.stdout.flush()
            os._exit(code)
        children.append(child)
    compiled = compile_modules(root, prefix, lists[0]) if lists else True
    for child in children:
        _, status = os.waitpid(child, 0)
        compiled = os.waitstatus_to_exitcode(status) == 0 and compiled
    return 0 if compiled else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
