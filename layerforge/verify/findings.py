"""Findings and reports: what verification says, file by file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Finding", "Report", "Rule", "Severity"]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Rule(str, Enum):
    """The named rule families; each has its own module and tests."""

    LAYOUT = "layout"
    SIZE = "size"
    WHEEL_TAGS = "wheel-tags"
    ELF_ARCH = "elf-arch"
    ELF_SYMBOLS = "elf-symbols"
    ELF_LIBRARIES = "elf-libraries"
    ELF_LOADER = "elf-loader"
    PYTHON_ABI = "python-abi"
    FOREIGN_BINARY = "foreign-binary"
    INTEGRITY = "integrity"


@dataclass(frozen=True)
class Finding:
    """One fact about one file that matters for loading on the target runtime."""

    rule: Rule
    severity: Severity
    file: str
    message: str
    required: str = ""
    allowed: str = ""
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["rule"] = self.rule.value
        data["severity"] = self.severity.value
        return data


@dataclass(frozen=True)
class Report:
    """All findings for one target, with the counts a summary line needs."""

    target: str
    runtime: str
    architecture: str
    glibc: str
    findings: list[Finding]
    files: int
    elf_files: int
    unzipped_bytes: int
    zipped_bytes: int | None
    seconds: float = 0.0
    rules: list[str] = field(default_factory=lambda: [r.value for r in Rule])

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def passed(self) -> bool:
        return self.count(Severity.ERROR) == 0

    @property
    def summary(self) -> str:
        verdict = "will load" if self.passed else "will NOT load"
        return (
            f"{self.target}: {verdict} on {self.runtime}/{self.architecture} "
            f"(glibc {self.glibc}): {self.count(Severity.ERROR)} errors, "
            f"{self.count(Severity.WARNING)} warnings; {self.files} files, "
            f"{self.elf_files} ELF files checked"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "glibc": self.glibc,
            "passed": self.passed,
            "summary": self.summary,
            "counts": {s.value: self.count(s) for s in Severity},
            "files": self.files,
            "elf_files": self.elf_files,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
            "seconds": round(self.seconds, 4),
            "rules": self.rules,
            "findings": [f.to_dict() for f in self.findings],
        }
