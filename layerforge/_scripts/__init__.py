"""Programs that another interpreter runs (the target runtime's Python, the sandbox's): the
bytecode worker, the smoke-test import harness and the Lambda runner. Each is standalone:
standard library only, Python 3.9 syntax, nothing imported from layerforge (a test checks). They
are handed over as text (``script_source``), never imported: this package's only code is that.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["script_source"]


def script_source(name: str) -> str:
    """The source of one of these programs (``bytecode_worker.py``, ``smoke_harness.py``,
    ``lambda_runner.py``), to hand to the interpreter that runs it."""
    return resources.files(__name__).joinpath(name).read_text("utf-8")
