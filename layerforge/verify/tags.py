"""Rule ``wheel-tags``: every distribution comes from a wheel the runtime's installer accepts.

pip (and uv) choose and install a wheel by its *file name*: the tags there decide, and the
``Tag:`` lines of its ``*.dist-info/WHEEL`` are never consulted. So a wheel given as a target is
judged by its file name (a WHEEL that disagrees is a warning), together with what pip checks
before installing it (one ``.dist-info`` folder named for the project, a WHEEL file, a
Wheel-Version it understands, a Requires-Python that admits the runtime's Python). An installed
distribution has no file name left: its WHEEL's ``Tag:`` lines are all there is.

A ``linux_<arch>`` tag (a wheel built on some Linux, with no manylinux promise) is a warning:
whether its binaries load is for the ELF rules to decide, file by file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from layerforge.runtimes import Architecture, Runtime, supported_tags
from layerforge.verify.findings import Finding, Rule, Severity
from layerforge.verify.source import Entry, LayerSource, MemberError

__all__ = ["check_wheel_tags", "wheel_tags"]

#: A WHEEL file is a few lines; nothing longer is read.
_MAX_WHEEL_BYTES = 64 * 1024
#: METADATA's headers come before its description; this much holds them.
_MAX_METADATA_BYTES = 256 * 1024


def _tags_of(message: Message) -> frozenset[Tag]:
    found: set[Tag] = set()
    for value in message.get_all("Tag") or []:
        try:
            found |= set(parse_tag(value.strip()))
        except ValueError:
            raise ValueError(f"not a wheel tag: {value.strip()[:80]!r}") from None
    return frozenset(found)


def wheel_tags(text: str) -> frozenset[Tag]:
    """The tags a ``*.dist-info/WHEEL`` file declares; ValueError for one that is not a tag."""
    return _tags_of(HeaderParser().parsestr(text))


def _linux_tagged(tags: frozenset[Tag], accepted: frozenset[Tag], arch: Architecture) -> bool:
    """A tag for the right interpreter and ABI, but the plain ``linux_<arch>`` platform."""
    plain, manylinux = f"linux_{arch.platform}", f"manylinux2014_{arch.platform}"
    return any(
        tag.platform == plain and Tag(tag.interpreter, tag.abi, manylinux) in accepted
        for tag in tags
    )


def _shown(tags: frozenset[Tag]) -> str:
    return ", ".join(sorted(str(t) for t in tags))


@dataclass(frozen=True)
class _Target:
    runtime: Runtime
    arch: Architecture
    accepted: frozenset[Tag]

    def finding(self, file: str, severity: Severity, message: str, required: str) -> Finding:
        return Finding(
            Rule.WHEEL_TAGS,
            severity,
            file,
            message,
            required=required,
            allowed=f"{self.runtime.abi}/abi3/none on manylinux <= glibc {self.runtime.glibc} "
            f"{self.arch.platform}",
            fix=f"rebuild with layerforge build --runtime {self.runtime.name} "
            f"--arch {self.arch.value}",
        )

    def judge(self, file: str, tags: frozenset[Tag], refused: str) -> list[Finding]:
        """Tags that fit, a linux_* warning, or ``refused`` as an error."""
        if not tags or tags & self.accepted:
            return []
        if _linux_tagged(tags, self.accepted, self.arch):
            message = (
                "tagged linux_* (built on some Linux, no manylinux promise): "
                "the ELF rules decide whether its binaries load"
            )
            return [self.finding(file, Severity.WARNING, message, _shown(tags))]
        return [self.finding(file, Severity.ERROR, refused, _shown(tags))]


@dataclass(frozen=True)
class _Metadata:
    entry: Entry
    message: Message | None
    problem: str = ""


def _read_wheel(source: LayerSource, entry: Entry) -> _Metadata:
    try:
        text = source.read(entry, _MAX_WHEEL_BYTES).decode("utf-8", "replace")
        message = HeaderParser().parsestr(text)
        _tags_of(message)
    except (ValueError, MemberError) as exc:
        return _Metadata(entry, None, f"unreadable WHEEL metadata: {exc}")
    return _Metadata(entry, message)


def _dist_info(project: str, members: Sequence[Entry]) -> tuple[str, str]:
    """The wheel's one .dist-info folder, or why pip finds none (its wheel_dist_info_dir)."""
    folders = sorted(
        {
            parts[1]
            for e in members
            if len(parts := e.path.split("/")) > 2 and parts[1].endswith(".dist-info")
        }
    )
    if not folders:
        return "", "no .dist-info folder: pip refuses the wheel"
    if len(folders) > 1:
        return "", f"several .dist-info folders ({', '.join(folders)}): pip refuses the wheel"
    if not canonicalize_name(folders[0]).startswith(canonicalize_name(project)):
        return "", f".dist-info folder {folders[0]} is not named for {project}: pip refuses it"
    return folders[0], ""


def _wheel_version_refused(folder: str, metadata: Sequence[_Metadata]) -> str:
    """pip's wheel_metadata and check_compatibility: a WHEEL with Wheel-Version 1.x."""
    found = [m for m in metadata if m.entry.path == f"python/{folder}/WHEEL"]
    if not found:
        return f"no {folder}/WHEEL: pip refuses the wheel"
    if found[0].message is None:
        return ""  # unreadable: reported as such
    major = (found[0].message.get("Wheel-Version") or "").strip().split(".")[0]
    if not major.isdigit():
        return "its WHEEL has no Wheel-Version: pip refuses the wheel"
    return f"Wheel-Version {major}.x: pip installs only version 1 wheels" if int(major) > 1 else ""


def _requires_python_refused(
    source: LayerSource, members: Sequence[Entry], folder: str, runtime: Runtime
) -> str:
    """pip's check of METADATA's Requires-Python against the target Python (an invalid one it
    ignores, with a warning)."""
    path = f"python/{folder}/METADATA"
    entry = next((e for e in members if e.path == path and e.is_regular), None)
    if entry is None:
        return ""
    try:
        text = source.read(entry, _MAX_METADATA_BYTES).decode("utf-8", "replace")
        wanted = HeaderParser().parsestr(text.split("\n\n", 1)[0]).get("Requires-Python")
        if wanted is None or SpecifierSet(wanted).contains(
            runtime.python_version, prereleases=True
        ):
            return ""
    except (MemberError, InvalidSpecifier):
        return ""
    return f"pip refuses it for Python {runtime.python_version}: Requires-Python {wanted}"


def _wheel_file(
    wheel: str,
    members: Sequence[Entry],
    metadata: Sequence[_Metadata],
    target: _Target,
    source: LayerSource,
) -> list[Finding]:
    try:
        project, _, _, tags = parse_wheel_filename(wheel)
    except InvalidWheelFilename as exc:
        return [target.finding(wheel, Severity.ERROR, f"pip refuses it: {exc}", wheel)]
    folder, refused = _dist_info(str(project), members)
    refused = refused or _wheel_version_refused(folder, metadata)
    refused = refused or _requires_python_refused(source, members, folder, target.runtime)
    if refused:
        return [target.finding(wheel, Severity.ERROR, refused, wheel)]
    findings = target.judge(
        wheel, frozenset(tags), "pip does not install this wheel here: its file name's tags"
    )
    for found in metadata:
        declared = frozenset() if found.message is None else _tags_of(found.message)
        if declared and declared != tags:
            message = f"its WHEEL declares {_shown(declared)}; pip goes by the file name's tags"
            findings.append(
                target.finding(found.entry.path, Severity.WARNING, message, _shown(declared))
            )
    return findings


def check_wheel_tags(
    source: LayerSource, entries: Sequence[Entry], runtime: Runtime, arch: Architecture
) -> list[Finding]:
    target = _Target(runtime, arch, supported_tags(runtime, arch))
    metadata = [
        _read_wheel(source, e)
        for e in entries
        if e.path.endswith(".dist-info/WHEEL") and e.is_regular
    ]
    findings = [
        target.finding(m.entry.path, Severity.ERROR, m.problem, "a valid Tag line")
        for m in metadata
        if m.message is None
    ]
    for found in metadata:
        if found.entry.wheel is None and found.message is not None:
            refused = "installed from a wheel this runtime does not accept"
            findings += target.judge(found.entry.path, _tags_of(found.message), refused)
    for wheel in sorted({e.wheel for e in entries if e.wheel is not None}):
        members = [e for e in entries if e.wheel == wheel]
        ours = [m for m in metadata if m.entry.wheel == wheel]
        findings += _wheel_file(wheel, members, ours, target, source)
    return findings
