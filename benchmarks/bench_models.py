"""Models benchmark: scoring and explanation throughput on a million cases resampled from German credit.

Each figure is compared with a baseline measured in the same run:
- batch scoring (check + calibrated P(bad) for the whole frame) against calling the model one case
  at a time, as a naive online service would; scoring is also timed from the checked columns, the
  path `DecisionEngine.decide` takes (no pandas frame of checked cases);
- batch explanation (SHAP per field, base value, top-4 reason codes) against shap's own batched
  ``TreeExplainer.shap_values`` on the same booster and rows (shap gets the encoded matrix, so it
  does less work than we do), and against explaining one case at a time.

Run:  .venv/bin/python benchmarks/bench_models.py [--rows N] [--explain-rows N] [--write]
``--write`` replaces the "Models" section of benchmarks/RESULTS.md with this run's figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from results import RESULTS, write_section

from decision_review.datasets import load_dataset
from decision_review.modeling.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Models (bench_models.py)"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(repeat: int, *fns):
    """Run the functions in turn, `repeat` rounds, and keep each one's fastest time.

    Interleaving matters on a shared machine: a burst of load from another process then hits
    both sides of a comparison instead of only one.
    """
    best = [float("inf")] * len(fns)
    results = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            results[i], elapsed = timed(fn)
            best[i] = min(best[i], elapsed)
    return results, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="cases to score")
    parser.add_argument("--explain-rows", type=int, default=100_000, help="of those, cases to explain")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per batch measure; the fastest counts")
    parser.add_argument("--per-case", type=int, default=2_000, help="cases scored one at a time (baseline)")
    parser.add_argument("--per-case-explain", type=int, default=200, help="cases explained one at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="record the figures in benchmarks/RESULTS.md")
    args = parser.parse_args()

    model = ModelRegistry(ROOT / "models").load("german_credit", 1)
    source = load_dataset("german_credit").frame
    rng = np.random.default_rng(args.seed)
    raw = source.iloc[rng.integers(0, len(source), args.rows)].reset_index(drop=True)
    print(f"german_credit v1: {args.rows:,} cases resampled from {len(source):,} (seed {args.seed})")

    (checked,), (t_check,) = best_of(args.repeat, lambda: model.check(raw))
    assert checked.valid.all()
    cases = checked.frame
    _, (t_score,) = best_of(args.repeat, lambda: model.predict_proba(cases))
    columns = model.check_columns(raw)
    _, (t_engine_score,) = best_of(args.repeat, lambda: model.predict_proba_matrix(model.encode(columns)))
    n_one = min(args.per_case, args.rows)

    def one_at_a_time():
        for i in range(n_one):
            one = raw.iloc[i : i + 1]
            model.predict_proba(model.check(one).frame)

    _, t_one = timed(one_at_a_time)
    rows = {
        "check (validate + coerce)": args.rows / t_check,
        "score (calibrated P(bad))": args.rows / t_score,
        "score from checked columns (the engine's path: encode + P(bad))": args.rows / t_engine_score,
        "check + score": args.rows / (t_check + t_score),
        "check + score, one case per call": n_one / t_one,
    }

    n_explain = min(args.explain_rows, args.rows)
    subset = cases.iloc[:n_explain]
    import shap

    matrix = model.estimator.encode(subset)
    shap_explainer = shap.TreeExplainer(model.estimator.booster_)
    (explanation, _), (t_explain, t_shap) = best_of(
        args.repeat,
        lambda: model.explain(subset, top_k=4),
        lambda: shap_explainer.shap_values(matrix, check_additivity=False),
    )
    assert explanation.top_fields.shape == (n_explain, 4)
    n_one_explain = min(args.per_case_explain, n_explain)

    def explain_one_at_a_time():
        for i in range(n_one_explain):
            model.explain(subset.iloc[i : i + 1], top_k=4)

    _, t_explain_one = timed(explain_one_at_a_time)
    rows |= {
        "explain: ours (SHAP per field + top-4 reasons)": n_explain / t_explain,
        "explain: shap TreeExplainer, batched": n_explain / t_shap,
        "explain: ours, one case per call": n_one_explain / t_explain_one,
    }

    score_ratio = rows["check + score"] / rows["check + score, one case per call"]
    explain_vs_shap = (
        rows["explain: ours (SHAP per field + top-4 reasons)"] / rows["explain: shap TreeExplainer, batched"]
    )
    explain_ratio = (
        rows["explain: ours (SHAP per field + top-4 reasons)"] / rows["explain: ours, one case per call"]
    )
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"xgboost {metadata.version('xgboost')}, shap {metadata.version('shap')}, "
        f"load average at start {os.getloadavg()[0]:.1f}",
        f"Date: {datetime.now(UTC).isoformat(timespec='seconds').replace('+00:00', 'Z')}",
        f"Cases: {args.rows:,} resampled from German credit (seed {args.seed}); explained: {n_explain:,}; "
        f"one-at-a-time baselines: {n_one:,} scored, {n_one_explain:,} explained; "
        f"batch figures are the best of {args.repeat} interleaved rounds",
        "",
        "| measure | cases/s |",
        "|---|---|",
        *[f"| {name} | {rate:,.0f} |" for name, rate in rows.items()],
        "",
        f"- batch check + score vs one case per call: **{score_ratio:,.0f}x**",
        f"- batch score alone: {rows['score (calibrated P(bad))']:,.0f} cases/s (target >= 200,000)",
        f"- batch explanation vs shap's batched TreeExplainer: **{explain_vs_shap:.2f}x** its rate "
        "(target >= 0.67x, i.e. within 1.5x)",
        f"- batch explanation vs one case per call: {explain_ratio:,.0f}x",
    ]
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        lines.append(
            f"- note: load average {load:.1f} at the end on {os.cpu_count()} cores: other processes shared "
            "the CPUs, so absolute rates are low and noisy; the same-run ratios are the figures to compare"
        )
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_section(SECTION, report)
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
