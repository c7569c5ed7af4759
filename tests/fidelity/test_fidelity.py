"""verify-abi against the corpus: no false accepts, and no false rejects without a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import Severity, verify_layer
from tests.fidelity.corpus import CASES, TARGETS, Case, artifact

pytestmark = [pytest.mark.network, pytest.mark.slow]

PAIRS = [(case, target) for case in CASES for target in TARGETS if target in case.expected]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fidelity")


@pytest.mark.parametrize(
    ("case", "target"), PAIRS, ids=[f"{c.name}@{t[0]}-{t[1]}" for c, t in PAIRS]
)
def test_verdict_matches_the_loader(case: Case, target: tuple[str, str], work: Path) -> None:
    path = artifact(case, work)
    expected = case.expected[target]
    report = verify_layer([path], get_runtime(target[0]), Architecture.parse(target[1]))
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    if expected.verdict == "load":
        assert report.passed, f"false reject ({expected.reason}): {errors}"
        for rule in case.warnings:
            assert any(
                f.rule.value == rule and f.severity is Severity.WARNING for f in report.findings
            ), (rule, report.findings)
    else:
        assert not report.passed, f"false accept: {expected.reason}"
        if expected.rule:
            assert expected.rule in {f.rule.value for f in errors}, (expected, errors)
