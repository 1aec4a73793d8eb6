"""How fast a backtest runs: candidate vs baseline plus a 50-point threshold sweep with fairness.

The history is the seed-8 fraud history (1,000,000 alerts by default), written to a Parquet file
first. Timed end to end: reading and checking the file, scoring once (both policies use model
fraud_alerts v1), replaying the candidate (the bundled policy with approve_below 0.03) and the
baseline (policies/fraud_alerts.yaml), every figure, the swap set and both fairness reports with
bootstrap intervals, then a sweep of 50 approve_below values with the AIR of every group at every
point and a full fairness report (with intervals) at the chosen point.

Baseline, same run: the same sweep done by calling `decide` once per threshold (a policy edited
to that threshold, then `decide` over all cases and a fairness report without intervals).
`--decide-points` of the 50 are measured (3 by default, all 50 with --decide-points 50) and the
rest extrapolated from their mean; the report says which. The measured points' figures are
checked against the sweep's.

Usage: python benchmarks/bench_backtest.py [--rows N] [--points N] [--decide-points N] [--write]
(--write replaces this script's section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from results import RESULTS, machine, write_section

from decision_review.backtest import (
    BacktestSettings,
    SweepTargets,
    load_history,
    run_backtest,
    threshold_sweep,
)
from decision_review.backtest.run import outcome_column
from decision_review.datasets.fraud import HISTORY_SEED, write_history
from decision_review.engine import DecisionEngine
from decision_review.fairness import fairness_report
from decision_review.modeling.registry import ModelRegistry
from decision_review.policy import parse_document

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "fraud_alerts.yaml"
SECTION = "## Backtest (bench_backtest.py)"
LIBRARIES = ("numpy", "pandas", "polars", "pyarrow", "xgboost", "fairlearn")
TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="alerts in the history")
    parser.add_argument("--points", type=int, default=50, help="approve_below values in the sweep")
    parser.add_argument("--decide-points", type=int, default=3, help="sweep points redone through decide")
    parser.add_argument("--write", action="store_true", help="record the figures in benchmarks/RESULTS.md")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    registry = ModelRegistry(ROOT / "models")
    baseline = DecisionEngine.from_policy_file(POLICY, registry)
    candidate = edited(baseline, approve_below=0.03, version=2)
    grid = [round(float(v), 4) for v in np.linspace(0.005, 0.25, args.points)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.parquet"
        write_history(path, args.rows, seed=HISTORY_SEED)
        fast = backtest_and_sweep(path, candidate, baseline, grid)
        slow = through_decide(path, candidate, baseline, grid, args.decide_points, fast)
    report = render(args, fast, slow, load_start)
    print(report)
    if args.write:
        write_section(SECTION, report)
        print(f"recorded in {RESULTS}")


def edited(engine: DecisionEngine, *, approve_below: float, version: int | None = None) -> DecisionEngine:
    """The bundled policy with another approve_below (and version), through the real loader."""
    text = POLICY.read_text(encoding="utf-8").replace(
        f"approve_below: {engine.policy.approve_below}", f"approve_below: {approve_below!r}"
    )
    if version is not None:
        text = text.replace(f"\nversion: {engine.policy.version}\n", f"\nversion: {version}\n")
    document = parse_document(text, source=str(POLICY), base_dir=POLICY.parent)
    return DecisionEngine.from_document(document, ModelRegistry(ROOT / "models"))


def backtest_and_sweep(
    path: Path, candidate: DecisionEngine, baseline: DecisionEngine, grid: list[float]
) -> dict:
    timings: dict[str, float] = {}
    marks = [time.perf_counter()]

    def lap(name: str) -> None:
        marks.append(time.perf_counter())
        timings[name] = marks[-1] - marks[-2]

    history = load_history(
        data=path,
        contract=candidate.model.contract,
        outcome_column="is_fraud",
        amount_column="amount_minor",
        currency="EUR",
        minor_digits=2,
    )
    lap("read and check the history file")
    steps: list[tuple[str, float]] = []
    current: list = [None, time.perf_counter()]

    def progress(message: str) -> None:
        """The backtest announces each step as it starts: time the one that just ended."""
        now = time.perf_counter()
        if current[0] is not None:
            steps.append((current[0], now - current[1]))
        current[:] = [message, now]

    settings = BacktestSettings(volume_per_day=5_000)
    run = run_backtest(history, candidate, baseline, settings=settings, progress=progress)
    progress("")
    lap("backtest: score once, replay both policies, figures, swap set, 2 fairness reports with intervals")
    targets = SweepTargets(
        max_bad_rate_approved=0.002, max_review_share=0.04, min_air=0.8, min_group_size=1000
    )
    sweep = threshold_sweep(
        run.replays["candidate"], history, approve_grid=grid, targets=targets, settings=settings
    )
    lap(
        f"sweep: {len(grid)} points, AIR of every group at each, fairness report with intervals at the "
        "chosen one"
    )
    total = marks[-1] - marks[0]
    return {
        "timings": timings,
        "total": total,
        "sweep": sweep,
        "history": history,
        "run": run,
        "steps": steps,
    }


def through_decide(
    path: Path,
    candidate: DecisionEngine,
    baseline: DecisionEngine,
    grid: list[float],
    measured: int,
    fast: dict,
) -> dict:
    """The same work through `decide`: both policies once, then one `decide` per sweep point."""
    history = fast["history"]
    started = time.perf_counter()
    for engine in (candidate, baseline):
        decided = engine.decide(history.cases, explain="none").frame
        auto_fairness(decided, history, n_bootstrap=fast["run"].report.settings.n_bootstrap)
    policies_seconds = time.perf_counter() - started
    picks = sorted({int(i) for i in np.linspace(0, len(grid) - 1, min(measured, len(grid)))})
    seconds = []
    for i in picks:
        started = time.perf_counter()
        engine = edited(baseline, approve_below=grid[i])
        decided = engine.decide(history.cases, explain="none").frame
        report = auto_fairness(decided, history, n_bootstrap=0)
        seconds.append(time.perf_counter() - started)
        check_point(fast["sweep"].points[i], decided, report)
    per_point = float(np.mean(seconds))
    return {
        "policies": policies_seconds,
        "per_point": per_point,
        "measured": len(picks),
        "total": policies_seconds + per_point * len(grid),
    }


def auto_fairness(decided, history, *, n_bootstrap: int):
    codes = (
        decided["outcome"].map({"approve": 0, "decline": 1, "review": 2}).fillna(3).to_numpy(dtype=np.int8)
    )
    frame = {
        "auto_outcome": outcome_column(codes),
        "bad": history.outcome,
        "score": decided["score"].to_numpy(),
    }
    return fairness_report(
        pd.DataFrame(frame),
        history.groups,
        stages={"auto": "auto_outcome"},
        label="bad",
        score="score",
        n_bootstrap=n_bootstrap,
        intersections=False,
        **history.fairness_settings(),
    )


def check_point(point, decided, report) -> None:
    """The sweep's figures at this point equal the ones `decide` gives."""
    outcome = decided["outcome"].to_numpy()
    assert abs(point.approve - (outcome == "approve").mean()) < 1e-12, "approve rate differs from decide"
    assert abs(point.review - (outcome == "review").mean()) < 1e-12, "review share differs from decide"
    for attribute in report.stage("auto").attributes:
        for g in attribute.groups:
            ours = point.air[attribute.attribute][g.group]
            if g.air.value is not None and not g.reference:
                assert abs(ours - g.air.value) < 1e-9, f"AIR of {g.group} differs from decide"


def render(args: argparse.Namespace, fast: dict, slow: dict, load_start: float) -> str:
    load_end = os.getloadavg()[0]
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    sweep = fast["sweep"]
    chosen = sweep.points[sweep.chosen] if sweep.chosen is not None else None
    sweep_seconds = next(v for k, v in fast["timings"].items() if k.startswith("sweep"))
    lines = [
        f"Date: {now}",
        f"Machine: {machine(LIBRARIES)}",
        f"Load average: {load_start:.1f} at start, {load_end:.1f} at the end. The machine was shared with "
        "other work while this ran, so the figures are noisy; compare the ratio, and re-run on a quiet "
        "machine for absolute times.",
        f"History: {args.rows:,} fraud alerts (seed-{HISTORY_SEED} history) read from Parquet. Candidate: "
        "policies/fraud_alerts.yaml with approve_below 0.03; baseline: the bundled policy (same model, so "
        f"scored once). Sweep: {args.points} values of approve_below from 0.005 to 0.25; fairness reports "
        "with 500 bootstrap resamples (policies and the chosen point), the points themselves without "
        "intervals.",
        "",
        "| step | seconds |",
        "|---|---:|",
    ]
    for name, seconds in fast["timings"].items():
        lines.append(f"| {name} | {seconds:.2f} |")
        if name.startswith("backtest"):
            lines += [f"| &nbsp;&nbsp;{message} | {seconds:.2f} |" for message, seconds in fast["steps"]]
    lines += [
        f"| **end to end** | **{fast['total']:.2f}** |",
        "",
        "| through `decide`, one threshold at a time | seconds |",
        "|---|---:|",
        f"| both policies decided, fairness with intervals | {slow['policies']:.2f} |",
        "| per sweep point: edit policy, decide all cases, fairness (no intervals); mean of "
        f"{slow['measured']} measured | {slow['per_point']:.2f} |",
        f"| total for {args.points} points ({slow['measured']} measured, "
        f"{args.points - slow['measured']} extrapolated) | {slow['total']:.1f} |",
        "",
        f"- end to end: **{fast['total']:.1f} s** (target < {TARGET_SECONDS:.0f} s on 2 cores): "
        + ("met" if fast["total"] < TARGET_SECONDS else "NOT met"),
        f"- against `decide` one threshold at a time: **{slow['total'] / fast['total']:.1f}x** faster; the "
        f"sweep alone ({sweep_seconds:.2f} s for "
        f"{args.points} points) against {slow['per_point'] * args.points:.0f} s",
        "- the measured points' approve and review rates and every group's AIR equal the sweep's",
        f"- chosen thresholds: close below {chosen.approve_below}, block at or above "
        f"{chosen.decline_at_or_above}"
        if chosen is not None
        else "- no sweep point met every target",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
