"""Reading a proof spec: every wrong type is a usage error naming its key path (the schema),
templates a run has, access scopes fit for IAM, input files inside the spec's folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layerforge.errors import UsageError
from layerforge.proof import Templates, access_of, planned_uploads, proof_plan
from layerforge.proof.spec import MAX_ARTIFACTS, bundled_spec, load_proof_spec, parse_proof_spec

ASSERTION = {"path": "status", "equals": "ok"}


def _refused(data: Any, base: Path | None = None, **options: Any) -> str:
    with pytest.raises(UsageError) as caught:
        parse_proof_spec(data, "spec.toml", base, **options)
    return caught.value.message


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        ([1, 2], "top level", "is a table"),
        ({"artefacts": []}, "top level", "did you mean 'artifacts'"),
        ({"response": 5}, "response", "expected a table, got 5"),
        ({"response": {"asserts": []}}, "response", "did you mean 'assert'"),
        ({"response": {"assert": {"path": "x"}}}, "response.assert", "expected a list"),
        ({"response": {"assert": [5]}}, "response.assert[0]", "expected a table"),
        ({"response": {"assert": [{"path": 5, "equals": 1}]}}, "assert[0].path", "a string"),
        ({"response": {"assert": [{"path": "s"}]}}, "assert[0]", "give exactly one of"),
        ({"response": {"assert": [{"path": "s", "resembles": 1}]}}, "assert[0]", "exactly one"),
        ({"response": {"assert": [{"path": "s", "one_of": "x"}]}}, "one_of", "needs a list"),
        ({"response": {"assert": [{"path": "s", "at_least": "many"}]}}, "at_least", "a number"),
        ({"response": {"assert": [{"path": "s", "at_most": True}]}}, "at_most", "a number"),
        ({"response": {"assert": [{"path": "s", "exists": False}]}}, "exists", "exists = true"),
        ({"response": {"assert": [{"path": "s", "matches": 5}]}}, "matches", "a string"),
        ({"artifacts": {"name": "a"}}, "artifacts", "expected a list"),
        ({"artifacts": [{}]}, "artifacts[0]", "exactly one of 'name' and 'glob'"),
        ({"artifacts": [{"name": "a", "glob": "*"}]}, "artifacts[0]", "exactly one of"),
        ({"artifacts": [{"name": 5}]}, "artifacts[0].name", "expected a string, got 5"),
        ({"artifacts": [{"name": ""}]}, "artifacts[0].name", "must not be empty"),
        ({"artifacts": [{"name": "a", "min_bytes": "9"}]}, "min_bytes", "whole number"),
        ({"artifacts": [{"name": "a", "min_bytes": -1}]}, "min_bytes", "whole number"),
        ({"artifacts": [{"name": "a", "parser": "xlsx"}]}, "parser", "must be one of"),
        ({"artifacts": [{"name": "a", "count": 2}]}, "artifacts[0]", "goes with a glob"),
        ({"artifacts": [{"glob": "*", "count": [2]}]}, "count", "a number"),
        ({"artifacts": [{"name": "a", "prefix": {"x": 1}}]}, "prefix", "a string"),
        ({"artifacts": [{"name": "a", "sheet": 1}]}, "artifacts[0]", "unknown key 'sheet'"),
        ({"logs": []}, "logs", "expected a table"),
        ({"logs": {"patterns": "x"}}, "logs.patterns", "expected a list"),
        ({"logs": {"patterns": [1]}}, "logs.patterns[0]", "a string"),
        ({"logs": {"patterns": ["(unclosed"]}}, "logs.patterns[0]", "not a regular expression"),
        ({"logs": {"patterns": ["x" * 5000]}}, "logs.patterns[0]", "at most 4,096 characters"),
        ({"access": {"write": "{bucket}/x/"}}, "access.write", "expected a list"),
        ({"access": {"read": [{"bucket": "b"}]}}, "access.read[0]", "a string"),
        ({"access": {"delete": []}}, "access", "unknown key 'delete'"),
        ({"inputs": {"file": "a"}}, "inputs", "expected a list"),
        ({"inputs": [{"file": "a.csv"}]}, "inputs[0]", "missing 'key'"),
        ({"inputs": [{"file": "a.csv", "key": "k", "allow_outside": "yes"}]}, "allow_outside", ""),
    ],
)
def test_every_wrong_type_names_its_key_path(data: Any, where: str, fragment: str) -> None:
    message = _refused(data)
    assert message.startswith("proof spec spec.toml: ") and where in message, message
    assert fragment in message, message


def test_a_pyproject_table_is_named_from_the_file_root() -> None:
    message = _refused({"logs": {"patterns": [3]}}, root="tool.layerforge.proof")
    assert "tool.layerforge.proof.logs.patterns[0]: expected a string" in message


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"tool": 5}, "tool: expected a table, got 5"),
        ({"tool": {"layerforge": 5}}, "tool.layerforge: expected a table"),
        ({"tool": {"black": {}}}, "give [tool.layerforge.proof]"),
        ({"tool": {"layerforge": {"runtime": "python3.12"}}}, "no [tool.layerforge.proof]"),
        ({"tool": {"layerforge": {"proof": []}}}, "tool.layerforge.proof: expected a table"),
        ({"tool": {"layerforge": {"proof": {"logs": {"patterns": [{}]}}}}}, "patterns[0]"),
        ("just a string", "a proof spec is a table"),
    ],
)
def test_proof_files_of_every_shape(tmp_path: Path, document: Any, fragment: str) -> None:
    for path, text in [
        (tmp_path / "proof.json", json.dumps(document)),
        (tmp_path / "proof.toml", _toml(document)),
    ]:
        if text is None:
            continue
        path.write_text(text)
        with pytest.raises(UsageError) as caught:
            load_proof_spec(path)
        assert fragment in caught.value.message, (path.name, caught.value.message)


def _toml(document: Any) -> str | None:
    """The same document in TOML, where TOML can say it (a top-level string it cannot)."""
    if not isinstance(document, dict):
        return None
    lines = []

    def table(prefix: str, value: dict[str, Any]) -> None:
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in scalars.items())
        for key, sub in value.items():
            if isinstance(sub, dict):
                table(f"{prefix}.{key}" if prefix else key, sub)

    table("", document)
    return "\n".join(lines) + "\n"


def test_the_bundled_specs_and_the_example_read() -> None:
    assert len(bundled_spec().artifacts) == 3
    assert len(bundled_spec("proof-fanout.toml").artifacts) == 4
    example = Path(__file__).parents[2] / "examples" / "sales-report" / "pyproject.toml"
    spec = load_proof_spec(example)
    assert [i.key for i in spec.inputs] == ["inputs/sales.csv"]


def test_artifacts_past_the_documented_limit_are_refused_at_once() -> None:
    many = {"artifacts": [{"name": f"{n}.json"} for n in range(10 * MAX_ARTIFACTS)]}
    assert "at most 1,000 entries" in _refused(many)
    spec = parse_proof_spec({"artifacts": many["artifacts"][:MAX_ARTIFACTS]}, "t")
    assert len(spec.artifacts) == MAX_ARTIFACTS


# -- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"logs": {"patterns": ["{nope}"]}}, "unknown template {nope}"),
        ({"response": {"assert": [{"path": "a", "equals": "{buckets}"}]}}, "{buckets}"),
        ({"artifacts": [{"name": "a", "prefix": "{respons.prefix}"}]}, "{respons.prefix}"),
        ({"access": {"write": ["{response.bucket}/x/"]}}, "not known yet"),
        ({"inputs": [{"file": "f", "key": "{response.k}"}]}, "not known yet"),
    ],
)
def test_templates_a_run_cannot_have_are_refused_at_load(data: Any, fragment: str) -> None:
    assert fragment in _refused(data)


def test_a_regex_may_still_use_repetition_braces() -> None:
    spec = parse_proof_spec({"logs": {"patterns": [r"\d{8}T{prefix}x{1,3}"]}}, "t")
    assert spec.log_patterns == (r"\d{8}T{prefix}x{1,3}",)


# -- access scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "fragment"),
    [
        ("*", "wildcard"),
        ("{bucket}/*", "wildcard"),
        ("{bucket}/runs?/", "wildcard"),
        ("arn:aws:s3:::*", "wildcard"),
        ("{bucket}/${aws:username}/", "policy variable"),
        ("{bucket}/../other/", "'..' segment"),
        ("{bucket}/a/./b/", "'.' segment"),
        ("{bucket}//x/", "empty segment"),
        ("/x/", "is not a bucket name"),
        ("Bad_Bucket/x/", "is not a bucket name"),
        ("a..b/x/", "is not a bucket name"),
        ("-{bucket}/x/", "is not a bucket name"),
        ("{bucket}/{{prefix}}/", "braces"),
    ],
)
def test_unfit_scopes_are_usage_errors(scope: str, fragment: str) -> None:
    message = _refused({"access": {"write": [scope]}})
    assert "access.write[0]" in message and fragment in message, message


def test_fit_scopes_expand_and_the_plan_names_other_buckets() -> None:
    spec = parse_proof_spec(
        {
            "access": {
                "write": ["{bucket}/{prefix}/", "{bucket}-logs/{function}/"],
                "read": ["shared-data/inputs", "{bucket}"],
            }
        },
        "t",
    )
    templates = Templates({"bucket": "b-1", "prefix": "p/q", "function": "fn"})
    access = access_of(spec.read, spec.write, templates)
    assert access.write == ("b-1/p/q/", "b-1-logs/fn/")
    assert access.read == ("shared-data/inputs/", "b-1/")
    assert access.outside("b-1") == ["b-1-logs/fn/", "shared-data/inputs/"]
    assert proof_plan(spec, templates, "b-1")["access"]["outside_bucket"] == [
        "b-1-logs/fn/",
        "shared-data/inputs/",
    ]


def test_a_scope_an_expansion_makes_unfit_is_refused() -> None:
    spec = parse_proof_spec({"access": {"write": ["{bucket}/{event.where}/"]}}, "t")
    wild = Templates({"bucket": "b-1"}, event={"where": "*"})
    with pytest.raises(UsageError, match=r"expands to 'b-1/\*/'.*wildcard"):
        access_of(spec.read, spec.write, wild)
    with pytest.raises(UsageError, match=r"\{event\.where\}: the event has no field 'where'"):
        access_of(spec.read, spec.write, Templates({"bucket": "b-1"}, event={}))


# -- inputs -------------------------------------------------------------------------------------


def test_inputs_outside_the_spec_folder_are_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "in.csv").write_text("a\n1\n")
    (tmp_path / "secret.txt").write_text("x")
    (project / "data" / "link.csv").symlink_to(tmp_path / "secret.txt")
    (project / "data" / "inner.csv").symlink_to(project / "data" / "in.csv")
    for file in ("../../../../etc/passwd", "/etc/passwd", "../secret.txt", "data/link.csv"):
        message = _refused({"inputs": [{"file": file, "key": "k"}]}, project)
        assert "inputs[0].file" in message and "outside the spec's folder" in message, message
    assert "no such file" in _refused({"inputs": [{"file": "data/x.csv", "key": "k"}]}, project)
    for key in ("a/../b", "./a", "//"):
        assert "inputs[0].key" in _refused({"inputs": [{"file": "data/in.csv", "key": key}]})
    spec = parse_proof_spec(
        {
            "inputs": [
                {"file": "data/inner.csv", "key": "inputs/in.csv"},
                {"file": "/etc/passwd", "key": "{prefix}/p", "allow_outside": True},
                {"file": "data/in.csv", "key": "k", "bucket": "{bucket}-in"},
            ]
        },
        "t",
        project,
    )
    uploads = planned_uploads(spec, Templates({"bucket": "b-1", "prefix": "runs"}))
    assert [(str(u.file), u.url) for u in uploads] == [
        (str(project / "data" / "in.csv"), "s3://b-1/inputs/in.csv"),
        ("/etc/passwd", "s3://b-1/runs/p"),
        (str(project / "data" / "in.csv"), "s3://b-1-in/k"),
    ]


def test_an_input_bucket_an_expansion_makes_invalid_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a\n")
    spec = parse_proof_spec(
        {"inputs": [{"file": "in.csv", "key": "k", "bucket": "{event.b}"}]}, "t", tmp_path
    )
    with pytest.raises(UsageError, match=r"inputs\[0\]\.bucket expands to 'Nope!'"):
        planned_uploads(spec, Templates({}, event={"b": "Nope!"}))
