"""How fast the fraud policy decides alerts: in bulk, and one alert per call, in the same run.

Bulk: the seed-8 history (1,000,000 alerts by default) decided by one `DecisionEngine.decide`
call with `policies/fraud_alerts.yaml`, once with explain="none" (a backtest) and once with
explain="needed" (production: blocked and investigated alerts get their reason codes), with the
engine's own per-stage timings. One at a time: the first N alerts of the same history (2,000 by
default), each decided alone as a one-row frame with explain="needed", as an online request
would be; p50/p99 latency. The baseline is that one-at-a-time path: the bulk rate is reported as
a multiple of it.

Usage: python benchmarks/bench_fraud.py [--rows N] [--single N] [--write]
(--write replaces this script's section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from results import RESULTS, machine, write_section

from decision_review.datasets.fraud import HISTORY_SEED, generate_alerts
from decision_review.engine import DecisionEngine, Decisions, ExplainMode
from decision_review.modeling.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "fraud_alerts.yaml"
SECTION = "## Fraud (bench_fraud.py)"
LIBRARIES = ("numpy", "pandas", "polars", "pyarrow", "xgboost", "shap")
STAGES = ("check", "score", "policy", "explain")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="alerts decided in bulk")
    parser.add_argument("--single", type=int, default=2_000, help="alerts decided one per call")
    parser.add_argument("--write", action="store_true", help="record the figures in benchmarks/RESULTS.md")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    engine = DecisionEngine.from_policy_file(POLICY, ModelRegistry(ROOT / "models"))
    alerts = generate_alerts(max(args.rows, args.single), seed=HISTORY_SEED).frame
    bulk_cases = alerts.iloc[: args.rows]
    engine.decide(alerts.iloc[:1_000], explain="needed")  # warm-up: imports, xgboost and shap set-up

    bulk = {mode: timed_decide(engine, bulk_cases, mode) for mode in ("none", "needed")}
    latencies, outcomes = one_at_a_time(engine, alerts.iloc[: args.single])

    report = render(args, bulk, latencies, outcomes, load_start)
    print(report)
    if args.write:
        write_section(SECTION, report)
        print(f"recorded in {RESULTS}")


def timed_decide(engine: DecisionEngine, cases: pd.DataFrame, mode: ExplainMode) -> tuple[float, Decisions]:
    started = time.perf_counter()
    decisions = engine.decide(cases, explain=mode)
    return time.perf_counter() - started, decisions


def one_at_a_time(engine: DecisionEngine, cases: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per call and the outcome of each alert, deciding one-row frames (the online path)."""
    seconds = np.empty(len(cases))
    outcomes = np.empty(len(cases), dtype=object)
    for i in range(len(cases)):
        row = cases.iloc[i : i + 1]
        started = time.perf_counter()
        decided = engine.decide(row, explain="needed")
        seconds[i] = time.perf_counter() - started
        outcomes[i] = decided.frame["outcome"].iloc[0]
    return seconds, outcomes


def render(
    args: argparse.Namespace,
    bulk: dict[str, tuple[float, Decisions]],
    latencies: np.ndarray,
    outcomes: np.ndarray,
    load_start: float,
) -> str:
    load_end = os.getloadavg()[0]
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = [
        f"Date: {now}",
        f"Machine: {machine(LIBRARIES)}",
        f"Load average: {load_start:.1f} at start, {load_end:.1f} at the end. The machine was shared with "
        "other work (tests, trainings, other benchmarks) while this ran, so the figures are noisy; "
        "compare the ratios, and re-run on a quiet machine for absolute rates.",
        f"Policy {POLICY.relative_to(ROOT)} with model fraud_alerts v1; alerts from the seed-{HISTORY_SEED} "
        "history (docs/fraud-data.md).",
        "",
        f"### Bulk: {args.rows:,} alerts in one `decide` call",
        "",
        "| explain | alerts explained | seconds | alerts/s | " + " | ".join(f"{s} s" for s in STAGES) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(STAGES),
    ]
    for mode, (seconds, decisions) in bulk.items():
        stages = " | ".join(f"{decisions.timings.get(s, 0.0):.2f}" for s in STAGES)
        rate = args.rows / seconds
        lines.append(
            f"| {mode} | {len(decisions.contributions):,} | {seconds:.2f} | {rate:,.0f} | {stages} |"
        )
    explained = np.isin(outcomes, ["review", "decline"])
    per_second = 1 / latencies.mean()
    lines += [
        "",
        f"### One at a time: {len(latencies):,} alerts, one-row frames, explain=needed",
        "",
        "| alerts | n | p50 ms | p99 ms | mean ms |",
        "|---|---:|---:|---:|---:|",
        _latency_row("all", latencies),
        _latency_row("closed (no explanation)", latencies[~explained]),
        _latency_row("blocked or investigated (explained)", latencies[explained]),
        "",
        f"- one at a time: {per_second:,.0f} alerts/s (1 / mean latency)",
    ]
    for mode, (seconds, _decisions) in bulk.items():
        lines.append(
            f"- bulk, explain={mode}: **{args.rows / seconds / per_second:,.0f}x** the one-at-a-time rate"
        )
    return "\n".join(lines)


def _latency_row(label: str, seconds: np.ndarray) -> str:
    if len(seconds) == 0:
        return f"| {label} | 0 | - | - | - |"
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return f"| {label} | {len(seconds):,} | {p50:.1f} | {p99:.1f} | {seconds.mean() * 1000:.1f} |"


if __name__ == "__main__":
    main()
