"""Verifying layers: ``verify_layer(targets, runtime, arch) -> Report`` of ``Finding``s."""

from __future__ import annotations

from layerforge.verify.model import Finding, Report, Rule, Severity
from layerforge.verify.verifier import verify_layer

__all__ = ["Finding", "Report", "Rule", "Severity", "verify_layer"]
