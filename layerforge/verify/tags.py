"""Rule ``wheel-tags``: every installed distribution came from a wheel the runtime accepts.

A ``linux_<arch>`` tag (a wheel built on some Linux, with no manylinux promise) is a warning:
whether its binaries load is for the ELF rules to decide, file by file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser

from packaging.tags import Tag, parse_tag

from layerforge.runtimes import Architecture, Runtime, supported_tags
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry, LayerSource, MemberError

__all__ = ["check_wheel_tags", "wheel_tags"]

#: A WHEEL file is a few lines; nothing longer is read.
_MAX_WHEEL_BYTES = 64 * 1024


def wheel_tags(text: str) -> frozenset[Tag]:
    """The tags a ``*.dist-info/WHEEL`` file declares; ValueError for one that is not a tag."""
    message = HeaderParser().parsestr(text)
    found: set[Tag] = set()
    for value in message.get_all("Tag") or []:
        try:
            found |= set(parse_tag(value.strip()))
        except ValueError:
            raise ValueError(f"not a wheel tag: {value.strip()[:80]!r}") from None
    return frozenset(found)


def _linux_tagged(tags: frozenset[Tag], accepted: frozenset[Tag], arch: Architecture) -> bool:
    """A tag for the right interpreter and ABI, but the plain ``linux_<arch>`` platform."""
    plain, manylinux = f"linux_{arch.platform}", f"manylinux2014_{arch.platform}"
    return any(
        tag.platform == plain and Tag(tag.interpreter, tag.abi, manylinux) in accepted
        for tag in tags
    )


@dataclass(frozen=True)
class _Target:
    runtime: Runtime
    arch: Architecture

    def finding(self, entry: Entry, severity: Severity, message: str, required: str) -> Finding:
        return Finding(
            Rule.WHEEL_TAGS,
            severity,
            entry.path,
            message,
            required=required,
            allowed=f"{self.runtime.abi}/abi3/none on manylinux <= glibc {self.runtime.glibc} "
            f"{self.arch.platform}",
            fix=f"rebuild with layerforge build --runtime {self.runtime.name} "
            f"--arch {self.arch.value}",
        )


def check_wheel_tags(
    source: LayerSource, entries: Sequence[Entry], runtime: Runtime, arch: Architecture
) -> list[Finding]:
    accepted = supported_tags(runtime, arch)
    target = _Target(runtime, arch)
    findings = []
    for entry in entries:
        if not entry.path.endswith(".dist-info/WHEEL") or not entry.is_regular:
            continue
        try:
            tags = wheel_tags(source.read(entry, _MAX_WHEEL_BYTES).decode("utf-8", "replace"))
        except (ValueError, MemberError) as exc:
            message = f"unreadable WHEEL metadata: {exc}"
            findings.append(target.finding(entry, Severity.ERROR, message, "a valid Tag line"))
            continue
        if not tags or tags & accepted:
            continue
        shown = ", ".join(sorted(str(t) for t in tags))
        if _linux_tagged(tags, accepted, arch):
            message = (
                "tagged linux_* (built on some Linux, no manylinux promise): "
                "the ELF rules decide whether its binaries load"
            )
            findings.append(target.finding(entry, Severity.WARNING, message, shown))
        else:
            message = "installed from a wheel this runtime does not accept"
            findings.append(target.finding(entry, Severity.ERROR, message, shown))
    return findings
