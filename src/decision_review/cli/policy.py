"""``decision-review policy ...``: check policy files before they decide anything.

``lint`` validates a policy file against the input contract of the model it names (from the model
registry, or a contract JSON file for a model still being built) and prints what the policy does,
its content digest and any warnings. It never scores or decides a case.
"""

from __future__ import annotations

from pathlib import Path

import typer

from decision_review.errors import DecisionReviewError, InvalidInput
from decision_review.policy import CompiledPolicy, PolicyDocument, compile_policy, read_policy
from decision_review.policy.spec import Action
from decision_review.schemas import InputContract
from decision_review.settings import Settings

policy_app = typer.Typer(help="Check and test policy files.", no_args_is_help=True)

MODELS_DIR_HELP = "Root of the model registry (default: the DR_MODELS_DIR setting, else ./models)."


def register(app: typer.Typer) -> None:
    """Add the `policy` command group to the main app."""
    app.add_typer(policy_app, name="policy")


def resolve_contract(
    document: PolicyDocument, *, models_dir: Path | None, contract_file: Path | None
) -> InputContract:
    """The input contract a policy is checked against: a contract file if given, else the registry's.

    An unknown model is an error naming the policy file, the model and the registry folder.
    """
    if contract_file is not None:
        try:
            return InputContract.model_validate_json(contract_file.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"{contract_file}: cannot read the contract file ({exc.strerror})") from None
        except ValueError as exc:
            raise InvalidInput(f"{contract_file}: not a valid input contract: {exc}") from None
    from decision_review.modeling.registry import ModelRegistry  # the registry pulls in the model stack

    root = models_dir if models_dir is not None else Settings().models_dir
    model = document.spec.model
    try:
        return ModelRegistry(root).load(model.name, model.version).contract
    except DecisionReviewError as exc:
        raise type(exc)(
            f"{document.source}: the policy uses model {model.name!r} version {model.version}, "
            f"which the registry at {root} cannot provide: {exc}"
        ) from None


@policy_app.command("lint")
def lint(
    file: Path = typer.Argument(..., help="Policy file (YAML) to check.", show_default=False),
    models_dir: Path | None = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
    contract_file: Path | None = typer.Option(
        None, "--contract", help="Check against this input contract (JSON) instead of the registry's model."
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 2) when there are warnings."),
) -> None:
    """Validate a policy file without deciding anything: schema, conditions, golden cases."""
    document = read_policy(file)
    contract = resolve_contract(document, models_dir=models_dir, contract_file=contract_file)
    policy = compile_policy(document, contract)
    typer.echo(_summary(policy))
    for warning in policy.warnings:
        typer.echo(f"warning: {file}, {warning}", err=True)
    if strict and policy.warnings:
        raise InvalidInput(f"{file}: {len(policy.warnings)} warning(s) and --strict was given")


def _summary(policy: CompiledPolicy) -> str:
    spec = policy.spec
    active = [r for r in spec.rules if not r.shadow]
    counts = {a: sum(r.action is a for r in active) for a in Action}
    shadow = len(spec.rules) - len(active)
    lines = [
        f"{policy.source}: ok",
        f"  policy {policy.name} version {policy.version} (product {policy.product}), "
        f"model {policy.model_name} version {policy.model_version}",
        f"  digest {policy.digest}",
        f"  rules: {counts[Action.DECLINE]} decline, {counts[Action.REVIEW]} review, "
        f"{counts[Action.APPROVE]} approve" + (f", {shadow} shadow" if shadow else ""),
        f"  thresholds: approve below {policy.approve_below}, "
        f"decline at or above {policy.decline_at_or_above}",
    ]
    qa = spec.qa_sample
    if qa is not None:
        lines.append(
            f"  QA sample: {qa.rate * 100:g}% of {'/'.join(qa.outcomes)} decisions to queue "
            f"{spec.queue_for(qa.queue)} (seed {qa.seed})"
        )
    lines.append(f"  on invalid input: {spec.on_invalid_input.action}")
    lines.append(f"  golden cases: {len(policy.golden_cases)}")
    return "\n".join(lines)


@policy_app.command("test")
def test(
    file: Path = typer.Argument(
        ..., help="Policy file (YAML) whose golden cases to run.", show_default=False
    ),
    models_dir: Path | None = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
) -> None:
    """Decide the policy's golden cases with the model it names and compare with their expectations.

    Exit status 1 when any golden case decides differently (each difference is printed), 2 when
    the policy cannot be used at all.
    """
    import pandas as pd  # the engine pulls in the model stack: import it only for this command

    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.policy.golden import check_golden, golden_records

    settings = Settings()
    registry = ModelRegistry(models_dir if models_dir is not None else settings.models_dir)
    engine = DecisionEngine.from_document(read_policy(file), registry, max_reasons=settings.max_reasons)
    policy = engine.policy
    if not policy.golden_cases:
        raise InvalidInput(f"{file}: the policy has no golden cases (add golden_cases: or golden_file:)")
    decisions = engine.decide(pd.DataFrame(golden_records(policy)), explain="none").frame
    decided = decisions[decisions["outcome"] != "error"]
    results = check_golden(policy, _as_polars(decided, policy.contract.id_field))
    errors = dict(zip(decisions["case_id"], decisions["error"], strict=True))
    failed = 0
    for result in results:
        if result.passed:
            typer.echo(f"  pass  {result.id}")
            continue
        failed += 1
        problems = list(result.problems)
        if errors.get(result.id):
            problems.append(f"input error: {errors[result.id]}")
        typer.echo(f"  FAIL  {result.id}: " + "; ".join(problems))
    typer.echo(f"{file}: {len(results) - failed} of {len(results)} golden cases pass")
    if failed:
        raise typer.Exit(1)


def _as_polars(frame, id_field: str):
    """The engine's decisions in the shape `check_golden` reads."""
    import polars as pl

    return pl.DataFrame(
        {
            id_field: frame["case_id"].tolist(),
            "outcome": frame["outcome"].tolist(),
            "winning_rule": frame["winning_rule"].tolist(),
            "rule_hits": [list(hits) for hits in frame["rule_hits"]],
        }
    )


@policy_app.command("gates")
def gates(
    file: Path = typer.Argument(..., help="Policy file (YAML) whose gates to check.", show_default=False),
    models_dir: Path | None = typer.Option(None, "--models-dir", help=MODELS_DIR_HELP),
    json_file: Path | None = typer.Option(None, "--json", help="Write the gate result as JSON."),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="Bootstrap resamples for the intervals."),
) -> None:
    """Backtest the policy on its reference history and check its gates (fairness and performance limits).

    Exit status 1 when a gate breaks (each is printed), 2 when the policy or its history cannot be
    used. Undetermined gates (too few cases to judge) are printed and do not break.
    """
    from rich.console import Console

    from decision_review.backtest import gates_table, run_gates
    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry

    registry = ModelRegistry(models_dir if models_dir is not None else Settings().models_dir)
    engine = DecisionEngine.from_document(read_policy(file), registry)
    if engine.policy.spec.gates is None:
        raise InvalidInput(f"{file}: the policy declares no gates (add a gates: section)")
    err = Console(stderr=True)
    with err.status(f"backtesting {file} on its reference history") as status:
        result, _ = run_gates(engine, n_bootstrap=bootstrap, progress=status.update)
    Console(width=max(Console().width, 120)).print(gates_table(result))
    for line in result.undetermined:
        typer.echo(f"undetermined: {line}")
    if json_file is not None:
        json_file.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    typer.echo(f"{file}: gates {'pass' if result.passed else 'FAIL'} on {result.history}")
    if not result.passed:
        raise typer.Exit(1)
