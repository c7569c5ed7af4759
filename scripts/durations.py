"""Where the suite's time goes, per test folder, from pytest's junit file.

    python scripts/durations.py JUNIT_XML

scripts/test.sh runs it at the end of every run, so CI's time is known, not guessed: each
folder's tests, their total time (setup, call and teardown: a module's expensive fixture counts
in its first test) and how many failed or were skipped. Standard library only.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Folder:
    tests: int = 0
    seconds: float = 0.0
    failed: int = 0
    skipped: int = 0


def folder_of(classname: str) -> str:
    """``tests.integration.builder.test_build[.TestX]`` -> ``tests/integration/builder``."""
    parts = classname.split(".")
    for index, part in enumerate(parts):
        if part.startswith("test_") or part == "conftest":
            return "/".join(parts[:index]) or "."
    return "/".join(parts)


def summarise(junit: Path) -> tuple[dict[str, Folder], float]:
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    folders: dict[str, Folder] = defaultdict(Folder)
    for case in root.iter("testcase"):
        folder = folders[folder_of(case.get("classname", ""))]
        folder.tests += 1
        folder.seconds += float(case.get("time") or 0.0)
        folder.failed += case.find("failure") is not None or case.find("error") is not None
        folder.skipped += case.find("skipped") is not None
    wall = sum(float(suite.get("time") or 0.0) for suite in suites)
    return dict(folders), wall


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    junit = Path(argv[0])
    if not junit.is_file():
        print(f"no junit file at {junit}: nothing to summarise", file=sys.stderr)
        return 1
    folders, wall = summarise(junit)
    print(f"\n{'folder':<34} {'tests':>6} {'seconds':>9} {'share':>6} {'failed':>7} {'skipped':>8}")
    total = sum(f.seconds for f in folders.values()) or 1.0
    for name, folder in sorted(folders.items(), key=lambda item: -item[1].seconds):
        share = 100 * folder.seconds / total
        print(
            f"{name:<34} {folder.tests:>6} {folder.seconds:>9.1f} {share:>5.1f}% "
            f"{folder.failed:>7} {folder.skipped:>8}"
        )
    tests = sum(f.tests for f in folders.values())
    print(f"{'all':<34} {tests:>6} {total:>9.1f}  (wall {wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
