"""Rule ``wheel-tags``: every installed distribution came from a wheel the runtime accepts."""

from __future__ import annotations

from collections.abc import Sequence
from email.parser import HeaderParser

from packaging.tags import Tag, parse_tag

from layerforge.runtimes import Architecture, Runtime, supported_tags
from layerforge.verify.model import Finding, Rule, Severity
from layerforge.verify.source import Entry, LayerSource

__all__ = ["check_wheel_tags", "wheel_tags"]


def wheel_tags(text: str) -> frozenset[Tag]:
    """The tags a ``*.dist-info/WHEEL`` file declares."""
    message = HeaderParser().parsestr(text)
    return frozenset(tag for value in message.get_all("Tag") or [] for tag in parse_tag(value))


def check_wheel_tags(
    source: LayerSource, entries: Sequence[Entry], runtime: Runtime, arch: Architecture
) -> list[Finding]:
    accepted = supported_tags(runtime, arch)
    findings = []
    for entry in entries:
        if not entry.path.endswith(".dist-info/WHEEL") or not entry.is_regular:
            continue
        tags = wheel_tags(source.read(entry).decode("utf-8", "replace"))
        if tags and not tags & accepted:
            findings.append(
                Finding(
                    Rule.WHEEL_TAGS, Severity.ERROR, entry.path,
                    "installed from a wheel this runtime does not accept",
                    required=", ".join(sorted(str(t) for t in tags)),
                    allowed=f"{runtime.abi}/abi3/none on manylinux <= glibc {runtime.glibc} "
                    f"{arch.platform}",
                    fix=f"rebuild with layerforge build --runtime {runtime.name} "
                    f"--arch {arch.value}",
                )
            )  # fmt: skip
    return findings
