"""Options shared by the commands that run a function (invoke-local, publish-and-invoke): which
function, and which proof spec judges it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from layerforge.cli.options import PATH, apply
from layerforge.fanout import MAX_SHARDS, FanOut, plan_fanout
from layerforge.functions import FunctionSource, function_source
from layerforge.proof.spec import ProofSpec, bundled_spec, load_proof_spec, parse_proof_spec
from layerforge.settings import read_settings

__all__ = ["fanout_and_proof", "fanout_options", "function_and_proof", "function_options"]

function_options = apply(
    click.option(
        "--function-dir", type=PATH, help="Your function's code folder (zipped deterministically)."
    ),
    click.option("--function-zip", type=PATH, help="Your function's deployment zip."),
    click.option("--handler", help="module.function of your function (with --function-dir/-zip)."),
    click.option(
        "--proof",
        "proof_file",
        type=PATH,
        help="Proof spec (TOML or JSON); default: [tool.layerforge.proof] of --config.",
    ),
    click.option(
        "--config",
        type=PATH,
        default=Path("pyproject.toml"),
        show_default=True,
        help="pyproject.toml whose [tool.layerforge.proof] judges your function.",
    ),
)


def function_and_proof(
    *,
    function_dir: Path | None,
    function_zip: Path | None,
    handler: str | None,
    proof_file: Path | None,
    config: Path,
) -> tuple[FunctionSource, ProofSpec]:
    """The function and its proof spec; the report's notes say what --function-dir left out."""
    function = function_source(function_dir, function_zip, handler)
    proof = _proof(function, proof_file, config)
    return function, replace(proof, notes=(*proof.notes, *function.notes()))


def _proof(function: FunctionSource, proof_file: Path | None, config: Path) -> ProofSpec:
    if proof_file is not None:
        return load_proof_spec(proof_file)
    if function.bundled:
        return function.default_proof()
    explicit = click.get_current_context().get_parameter_source("config")
    settings = read_settings(config, explicit=explicit is not click.core.ParameterSource.DEFAULT)
    table = settings.get("proof")
    if isinstance(table, dict):
        source = f"{config} [tool.layerforge.proof]"
        return parse_proof_spec(
            table, source, config.resolve().parent, root="tool.layerforge.proof"
        )
    return function.default_proof()


fanout_options = apply(
    click.option(
        "--shards",
        type=click.IntRange(1, MAX_SHARDS),
        help="Fan out: split the event's rows over N shards, then merge (Distributed Map).",
    ),
    click.option(
        "--input",
        "input_url",
        metavar="S3_URL",
        help="Fan out over input data: one shard per CSV object under s3://BUCKET/PREFIX/.",
    ),
    click.option(
        "--max-concurrency",
        type=click.IntRange(1, 10_000),
        default=10,
        show_default=True,
        help="Shards running at once.",
    ),
    click.option("--run-id", help="Fan-out run id (default: time and random); reruns reuse it."),
)


def fanout_and_proof(
    event: dict[str, Any],
    function: FunctionSource,
    proof: ProofSpec,
    *,
    shards: int | None,
    input_url: str | None,
    max_concurrency: int,
    run_id: str | None,
    proof_given: bool,
) -> tuple[FanOut | None, ProofSpec]:
    """The fan-out asked for, and its proof spec: the bundled function's fan-out spec unless
    --proof names another."""
    fanout = plan_fanout(
        event,
        shards=shards,
        input_url=input_url,
        run_id=run_id,
        max_concurrency=max_concurrency,
    )
    if fanout is not None and function.bundled and not proof_given:
        return fanout, bundled_spec("proof-fanout.toml")
    return fanout, proof
