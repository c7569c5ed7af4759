"""Lambda-like sandboxes: smoke imports of a layer and local handler runs, before any deploy."""

from __future__ import annotations

from layerforge.sandbox.base import Invocation, ModuleImport, Sandbox
from layerforge.sandbox.docker_sandbox import docker_sandbox
from layerforge.sandbox.engines import ENGINES, open_sandbox
from layerforge.sandbox.environment import SandboxSpec
from layerforge.sandbox.smoke import SmokeReport, layer_modules, smoke_test

__all__ = [
    "ENGINES",
    "Invocation",
    "ModuleImport",
    "Sandbox",
    "SandboxSpec",
    "SmokeReport",
    "docker_sandbox",
    "layer_modules",
    "open_sandbox",
    "smoke_test",
]
