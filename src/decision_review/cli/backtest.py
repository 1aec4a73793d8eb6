"""``decision-review backtest``: replay a candidate policy (and a baseline) over history and compare.

Why one command for the backtest and the sweep: both replay the same history with the same
scores; asking for a sweep only adds the threshold grid on top of the candidate's replay. The
model stack loads only when the command runs; a long run shows each step as it finishes.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group

from decision_review.errors import InvalidInput
from decision_review.settings import Settings

if TYPE_CHECKING:
    from decision_review.backtest import BacktestRun, History, SweepTargets
    from decision_review.engine import DecisionEngine

SWAP_SUFFIXES = {".csv", ".parquet"}
DEFAULT_POINTS = 50


def backtest(
    policy: Annotated[Path, typer.Option(help="Candidate policy file (YAML).")],
    baseline: Annotated[Path | None, typer.Option(help="Baseline policy file to compare with.")] = None,
    data: Annotated[Path | None, typer.Option(help="History file (.csv or .parquet).")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Bundled history: german_credit, credit_data or fraud_alerts.")
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option(min=1, help="fraud_alerts: alerts to generate (default 200,000); else first N."),
    ] = None,
    outcome_column: Annotated[
        str | None, typer.Option(help="Known outcome column: 1 bad, 0 good, empty unknown (default: bad).")
    ] = None,
    no_outcomes: Annotated[bool, typer.Option("--no-outcomes", help="The history has no outcomes.")] = False,
    amount_column: Annotated[str | None, typer.Option(help="Amount at stake (whole numbers).")] = None,
    currency: Annotated[str | None, typer.Option(help="Currency of the amounts, e.g. EUR.")] = None,
    minor_digits: Annotated[
        int | None, typer.Option(min=0, max=4, help="Digits of the minor unit: 2 when amounts are cents.")
    ] = None,
    lgd: Annotated[str, typer.Option(help="Loss given default for expected and realised losses.")] = "1",
    volume_per_day: Annotated[
        int | None, typer.Option(min=1, help="New cases a day, for the review workload per day.")
    ] = None,
    product: Annotated[str | None, typer.Option(help="Replay only this product line's cases.")] = None,
    attributes: Annotated[
        str | None, typer.Option(help="Protected attributes to report, comma-separated (default: all).")
    ] = None,
    min_group_size: Annotated[int, typer.Option(min=1, help="Smaller groups are shown, not screened.")] = 30,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the intervals.")] = 500,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON.")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="Write the report as HTML.")] = None,
    swaps_file: Annotated[
        Path | None, typer.Option("--swaps", help="Write the cases that change outcome (.csv or .parquet).")
    ] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Also sweep the candidate's thresholds.")] = False,
    approve_grid: Annotated[
        str | None, typer.Option(help="approve_below values: start:stop:count or a,b,c (default: 50 points).")
    ] = None,
    decline_grid: Annotated[
        str | None, typer.Option(help="decline_at_or_above values (default: the policy's own).")
    ] = None,
    max_bad_rate: Annotated[
        float | None, typer.Option(help="Target: bad rate among approvals at most.")
    ] = None,
    max_review_share: Annotated[float | None, typer.Option(help="Target: review share at most.")] = None,
    min_air: Annotated[
        float | None, typer.Option(help="Target: AIR of every screened group at least.")
    ] = None,
    min_approval_rate: Annotated[float | None, typer.Option(help="Target: approval rate at least.")] = None,
    target_group_size: Annotated[
        int | None, typer.Option(min=1, help="Targets screen groups of this many cases or more (default 50).")
    ] = None,
    models_dir: Annotated[
        Path | None, typer.Option(help="Model registry [default: DR_MODELS_DIR or ./models].")
    ] = None,
) -> None:
    """Replay a candidate policy (and a baseline) over historical cases and compare them side by side."""
    from decision_review.backtest import BacktestSettings, run_backtest
    from decision_review.backtest.html import write_html
    from decision_review.backtest.render import report_renderables
    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry

    _check_outputs(json_file, html_file, swaps_file)
    settings = Settings()
    registry = ModelRegistry(models_dir or settings.models_dir)
    err = Console(stderr=True)
    steps = _Steps(err)
    with steps.step("loading the policies"):
        candidate = DecisionEngine.from_policy_file(policy, registry)
        base = DecisionEngine.from_policy_file(baseline, registry) if baseline is not None else None
    with steps.step("loading the history"):
        history = _history(
            candidate,
            data=data,
            dataset=dataset,
            rows=rows,
            outcome_column=outcome_column,
            outcomes=not no_outcomes,
            amount_column=amount_column,
            currency=currency,
            minor_digits=minor_digits,
            product=product,
            attributes=[a.strip() for a in attributes.split(",") if a.strip()] if attributes else None,
        )
    run_settings = BacktestSettings(
        lgd=_decimal(lgd),
        volume_per_day=volume_per_day,
        min_group_size=min_group_size,
        n_bootstrap=bootstrap,
    )
    with steps.step(f"replaying {len(history):,} cases"):
        run = run_backtest(history, candidate, base, settings=run_settings, progress=steps.say)
    report = run.report
    if sweep:
        targets = _targets(
            candidate, max_bad_rate, max_review_share, min_air, min_approval_rate, target_group_size
        )
        with steps.step("sweeping the thresholds"):
            report = report.model_copy(
                update={"sweep": _sweep(run, candidate, approve_grid, decline_grid, targets)}
            )
    Console(width=max(Console().width, 120)).print(Group(*report_renderables(report)))
    if json_file is not None:
        _write_text(json_file, report.model_dump_json(indent=2))
        err.print(f"JSON report -> {json_file}")
    if html_file is not None:
        with steps.step("drawing the HTML report"):
            write_html(report, html_file)
        err.print(f"HTML report -> {html_file}")
    if swaps_file is not None:
        _write_swaps(run, swaps_file)
        err.print(f"swap set -> {swaps_file}")


class _Steps:
    """Progress on stderr: the current step as a spinner, each finished step with its time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status = None

    def step(self, text: str):
        from contextlib import contextmanager

        @contextmanager
        def running():
            start = time.perf_counter()
            with self.console.status(text) as status:
                self._status = status
                yield
            self._status = None
            self.console.print(
                f"[green]done[/] {text} ({time.perf_counter() - start:.1f} s)", highlight=False
            )

        return running()

    def say(self, message: str) -> None:
        if self._status is not None:
            self._status.update(message)


def _check_outputs(json_file: Path | None, html_file: Path | None, swaps_file: Path | None) -> None:
    """Refuse unusable output paths before any work is done."""
    for option, path in (("--json", json_file), ("--html", html_file), ("--swaps", swaps_file)):
        if path is not None and not path.parent.is_dir():
            raise InvalidInput(f"{option} {path}: folder {path.parent} does not exist")
    if swaps_file is not None and swaps_file.suffix.lower() not in SWAP_SUFFIXES:
        raise InvalidInput(f"--swaps {swaps_file}: give a .csv or .parquet file name")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"--lgd {text!r} is not a number between 0 and 1") from None
    if not Decimal(0) <= value <= Decimal(1):
        raise InvalidInput(f"--lgd {text} must be between 0 and 1 (the share of the amount lost)")
    return value


def _history(candidate: DecisionEngine, *, data: Path | None, dataset: str | None, **options) -> History:
    """The history named on the command line, else the candidate policy's reference history.

    When the history is the policy's reference history, the columns the policy declares for it
    (outcome, amount, currency, product) apply unless given on the command line.
    """
    from decision_review.backtest import load_history

    gates = candidate.policy.spec.gates
    ref = gates.reference_history if gates is not None else None
    if data is not None and dataset is not None:
        raise InvalidInput("give the history as --data FILE or --dataset NAME, not both")
    if data is None and dataset is None:
        if ref is None:
            raise InvalidInput(
                f"give the history with --data FILE or --dataset NAME (policy {candidate.policy.name} "
                "declares no gates.reference_history to default to)"
            )
        dataset = ref.dataset
        if ref.file is not None:
            data = Path(candidate.policy.source).parent / ref.file
    same = ref is not None and (
        (dataset is not None and dataset == ref.dataset)
        or (
            data is not None
            and ref.file is not None
            and Path(data) == Path(candidate.policy.source).parent / ref.file
        )
    )
    if same:
        for key in ("outcome_column", "amount_column", "currency", "minor_digits", "product"):
            if options.get(key) is None:
                options[key] = getattr(ref, key)
    if options.get("minor_digits") is None:
        options["minor_digits"] = 0
    return load_history(contract=candidate.model.contract, data=data, dataset=dataset, **options)


def _targets(
    candidate: DecisionEngine,
    max_bad_rate: float | None,
    max_review_share: float | None,
    min_air: float | None,
    min_approval_rate: float | None,
    group_size: int | None,
) -> SweepTargets:
    """Sweep targets: the command line's, else the candidate's gates."""
    from decision_review.backtest import SweepTargets

    gates = candidate.policy.spec.gates

    def pick(given: float | None, key: str) -> float | None:
        return given if given is not None else (getattr(gates, key) if gates is not None else None)

    return SweepTargets(
        max_bad_rate_approved=pick(max_bad_rate, "max_bad_rate_approved"),
        max_review_share=pick(max_review_share, "max_review_share"),
        min_air=pick(min_air, "min_air"),
        min_approval_rate=pick(min_approval_rate, "min_approval_rate"),
        min_group_size=group_size or (gates.min_group_size if gates is not None else 50),
    )


def _sweep(
    run: BacktestRun, candidate: DecisionEngine, approve_grid: str | None, decline_grid: str | None, targets
):
    from decision_review.backtest import grid, threshold_sweep

    gates = candidate.policy.spec.gates
    if approve_grid is None:  # 50 even steps up to the decline threshold, and the current threshold
        top = candidate.policy.decline_at_or_above
        steps = {round(top * i / DEFAULT_POINTS, 4) for i in range(1, DEFAULT_POINTS + 1)}
        approve = sorted(steps | {candidate.policy.approve_below})
    else:
        approve = grid(approve_grid)
    return threshold_sweep(
        run.replays["candidate"],
        run.history,
        approve_grid=approve,
        decline_grid=grid(decline_grid) if decline_grid is not None else None,
        targets=targets,
        settings=run.report.settings,
        attributes=gates.attributes if gates is not None else None,
        intersections=gates.intersections if gates is not None else False,
    )


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _write_swaps(run: BacktestRun, path: Path) -> None:
    frame = run.swaps()
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False)
    partial.replace(path)


def register(app: typer.Typer) -> None:
    """Add `backtest` to the main app."""
    app.command("backtest")(backtest)
