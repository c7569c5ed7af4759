"""verify-abi's verdicts against the fidelity corpus, beside auditwheel's, as confusion matrices.

Each (artifact, runtime, architecture) of tests/fidelity has the verdict the dynamic loader
would give. For each tool: true/false accepts and rejects. auditwheel judges only platform
wheels of the architecture it is asked about; a wheel's verdict is "accept" when its overall
policy is at most the runtime's glibc (manylinux_2_26 for python3.9-3.11, 2_34 for 3.12+).

    pip install '.[bench]' && python -m benchmarks.fidelity_matrix [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from layerforge.runtimes import Architecture, get_runtime
from layerforge.verify import verify_layer
from tests.fidelity.corpus import CASES, Case, artifact


def layerforge_accepts(path: Path, runtime: str, arch: str) -> bool:
    return verify_layer([path], get_runtime(runtime), Architecture.parse(arch)).passed


def auditwheel_accepts(path: Path, runtime: str, arch: str) -> bool | None:
    """None where auditwheel does not judge: not a wheel, or a runtime whose Python version or
    architecture differs from what the wheel is tagged for (auditwheel checks a wheel's ELF
    policy, not whether an interpreter of another version or machine could import it)."""
    if path.suffix != ".whl":
        return None
    tags = path.name.removesuffix(".whl").rsplit("-", 3)[1:]
    python_tag, platform_tag = tags[0], tags[2]
    wanted = "cp" + get_runtime(runtime).python_version.replace(".", "")
    machine = "aarch64" if arch == "arm64" else "x86_64"
    if (python_tag.startswith("cp") and python_tag != wanted) or (
        platform_tag.endswith(("x86_64", "aarch64")) and not platform_tag.endswith(machine)
    ):
        return None
    from auditwheel.architecture import Architecture as AwArchitecture
    from auditwheel.error import NonPlatformWheelError
    from auditwheel.libc import Libc
    from auditwheel.wheel_abi import analyze_wheel_abi

    aw_machine = AwArchitecture.aarch64 if arch == "arm64" else AwArchitecture.x86_64
    try:
        info = analyze_wheel_abi(
            Libc.GLIBC, aw_machine, path, frozenset(), disable_isa_ext_check=True, allow_graft=False
        )
    except NonPlatformWheelError as exc:
        return "no ELF executable" in str(exc)  # a pure wheel; otherwise other machines' binaries
    except Exception:  # musl, not ELF: auditwheel refuses
        return False
    match = re.match(r"manylinux_2_(\d+)_", info.overall_policy.name)
    glibc = get_runtime(runtime).glibc.minor
    return match is not None and int(match.group(1)) <= glibc


def _cell(expected: str, accepted: bool) -> str:
    truth = expected == "load"
    return {
        (True, True): "true accept",
        (False, False): "true reject",
        (False, True): "FALSE ACCEPT",
        (True, False): "false reject",
    }[(truth, accepted)]


def run() -> dict[str, Any]:
    logging.getLogger("auditwheel").setLevel(logging.ERROR)
    matrices: dict[str, Counter[str]] = {"layerforge": Counter(), "auditwheel": Counter()}
    disagreements: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in CASES:
            path = artifact(case, Path(scratch))
            for (runtime, arch), expected in case.expected.items():
                ours = _cell(expected.verdict, layerforge_accepts(path, runtime, arch))
                matrices["layerforge"][ours] += 1
                theirs_accepts = auditwheel_accepts(path, runtime, arch)
                theirs = (
                    "not judged"
                    if theirs_accepts is None
                    else _cell(expected.verdict, theirs_accepts)
                )
                matrices["auditwheel"][theirs] += 1
                if (ours not in {"true accept", "true reject"}) or theirs.startswith(
                    ("FALSE", "false")
                ):
                    disagreements.append(
                        {
                            "case": case.name,
                            "target": f"{runtime}/{arch}",
                            "expected": f"{expected.verdict} ({expected.reason})",
                            "layerforge": ours,
                            "auditwheel": theirs,
                        }
                    )
    return {"matrices": {k: dict(v) for k, v in matrices.items()}, "notable": disagreements}


def _print(result: dict[str, Any]) -> None:
    labels = ["true accept", "true reject", "FALSE ACCEPT", "false reject", "not judged"]
    print(f"{'':12}" + "".join(f"{label:>15}" for label in labels))
    for tool, counts in result["matrices"].items():
        print(f"{tool:12}" + "".join(f"{counts.get(label, 0):>15}" for label in labels))
    print("\nwhere a tool is wrong (the loader's verdict in 'expected'):")
    for row in result["notable"]:
        print(
            f"  {row['case']} @ {row['target']}: expected {row['expected']}; "
            f"layerforge {row['layerforge']}, auditwheel {row['auditwheel']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    result = run()
    if parser.parse_args().json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)


if __name__ == "__main__":
    _ = Case
    main()
