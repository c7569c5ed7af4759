"""Verifying layers: ``verify_layer(targets, runtime, arch) -> Report`` of ``Finding``s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerforge.verify.findings import Finding, Report, Rule, Severity

if TYPE_CHECKING:
    from layerforge.verify.verifier import verify_layer

__all__ = ["Finding", "Report", "Rule", "Severity", "verify_layer"]


def __getattr__(name: str) -> Any:
    """``verify_layer`` (and the ELF readers behind it) load on first use, not with the CLI."""
    if name == "verify_layer":
        from layerforge.verify.verifier import verify_layer  # the rules and ELF readers: 60 ms

        return verify_layer
    raise AttributeError(name)
