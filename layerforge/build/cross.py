"""The cross backend: the host's pip installs exactly the wheels the target runtime accepts."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from layerforge.build.index import PackageIndex
from layerforge.build.pip import (
    PipTarget,
    explain_pip_failure,
    install_arguments,
    read_install_report,
)
from layerforge.build.process import run_streaming
from layerforge.build.result import ResolvedDistribution
from layerforge.events import EventSink
from layerforge.spec import LayerSpec

__all__ = ["CrossInstaller"]


class CrossInstaller:
    """Installs wheels for (runtime, arch) on any host: no Docker, nothing compiled."""

    name = "cross"

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def install(
        self, spec: LayerSpec, install_dir: Path, sink: EventSink
    ) -> list[ResolvedDistribution]:
        target = PipTarget(spec.runtime, spec.architecture)
        with tempfile.TemporaryDirectory(prefix="layerforge-pip-") as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text("\n".join(spec.requirements) + "\n", "utf-8")
            report = Path(scratch) / "report.json"
            args = install_arguments(
                target=target,
                install_dir=str(install_dir),
                requirements_file=str(requirements),
                report_file=str(report),
                index_url=spec.index_url,
                extra_index_urls=spec.extra_index_urls,
            )
            done = run_streaming([self.python, "-m", "pip", *args], step="resolve", sink=sink)
            if done.returncode != 0:
                raise explain_pip_failure(done.output, target, PackageIndex(spec.index_url))
            return read_install_report(report)
