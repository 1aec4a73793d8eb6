"""Time a full fairness report at scale, against two baselines measured in the same run.

The report: N cases (default 1,000,000), 3 protected attributes + their 3 pairwise
intersections, 4 stages (model, auto, human, final), labels and scores (so TPR/FPR/calibration
too), 40 reviewers with override flags (the human review section), 200 bootstrap resamples.
Baselines on the same cases:

- fairlearn: one `MetricFrame(selection_rate)` for one stage and one attribute, no intervals;
- row bootstrap: the plain vectorised approach (a resampled index per resample, group counts
  with bincount) for selection rates of one stage and one attribute, with the same resamples.

Usage: python benchmarks/bench_fairness.py [--rows N] [--resamples B] [--write]
(--write replaces this script's section of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, selection_rate

from decision_review.fairness import fairness_report

SECTION = "## Fairness (bench_fairness.py)"


def synthetic(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["female", "male", "unknown"], n, p=[0.35, 0.64, 0.01]),
            "age_band": rng.choice(["<25", "25-34", "35-49", "50+"], n),
            "foreign_worker": rng.choice(["yes", "no"], n, p=[0.96, 0.04]),
        }
    )
    u = rng.random(n)
    auto = np.where(u < 0.55, "approve", np.where(u < 0.8, "review", "decline"))
    human = np.where(auto == "review", np.where(rng.random(n) < 0.5, "approve", "decline"), None)
    bad = (rng.random(n) < 0.1 + 0.4 * u).astype(float)
    bad[rng.random(n) < 0.2] = np.nan
    decisions = pd.DataFrame(
        {
            "model_outcome": np.where(u < 0.65, "approve", "decline"),
            "auto_outcome": auto,
            "human_outcome": human,
            "final_outcome": np.where(auto == "review", human, auto),
            "bad": bad,
            "score": np.clip(0.1 + 0.4 * u + rng.normal(0, 0.05, n), 0, 1),
            "reviewer": np.where(auto == "review", rng.choice([f"r{i:02d}" for i in range(40)], n), None),
            "overridden": np.where(auto == "review", rng.random(n) < 0.2, None),
        }
    )
    return decisions, groups


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row_bootstrap(outcome: pd.Series, group: pd.Series, resamples: int, seed: int = 0) -> np.ndarray:
    """Baseline: resample row indices (in chunks), count approvals per group with bincount."""
    rng = np.random.default_rng(seed)
    decided = outcome.notna().to_numpy()
    approve = (outcome == "approve").to_numpy()
    codes, levels = pd.factorize(group)
    n, k = len(codes), len(levels)
    out = np.empty((resamples, k))
    for b in range(resamples):
        i = rng.integers(0, n, n)
        c, d = codes[i], decided[i]
        out[b] = np.bincount(c, approve[i] & d, k) / np.bincount(c, d, k)
    return np.quantile(out, [0.025, 0.975], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--write", action="store_true", help="update this section of benchmarks/RESULTS.md")
    args = parser.parse_args()

    decisions, groups = synthetic(args.rows)

    def report() -> None:
        fairness_report(
            decisions,
            groups,
            label="bad",
            score="score",
            reviewer="reviewer",
            override="overridden",
            n_bootstrap=args.resamples,
        )

    full = best_of(2, report)
    outcome = decisions["final_outcome"]
    mask = outcome.notna()
    approved = (outcome[mask] == "approve").astype(int)

    def fairlearn_one() -> None:
        MetricFrame(
            metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=groups["sex"][mask]
        )

    fairlearn = best_of(1, fairlearn_one)
    rows = best_of(1, lambda: row_bootstrap(outcome, groups["sex"], args.resamples))

    lines = [
        SECTION,
        "",
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%MZ')}, "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other work: noisy), Python {platform.python_version()}.",
        "",
        f"{args.rows:,} cases, 3 attributes + 3 intersections, 4 stages, labels and scores, "
        f"40 reviewers with override flags, {args.resamples} resamples.",
        "",
        "| what | seconds | vs full report |",
        "| --- | ---: | ---: |",
        f"| full report (every stage, attribute, intersection, figure, interval) | {full:.2f} | 1.0x |",
        f"| baseline: fairlearn MetricFrame, one stage x one attribute, selection rate only, no intervals "
        f"| {fairlearn:.2f} | {fairlearn / full:.1f}x |",
        f"| baseline: row-resampling bootstrap, one stage x one attribute, selection rate only "
        f"| {rows:.2f} | {rows / full:.1f}x |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = Path(__file__).with_name("RESULTS.md")
        current = path.read_text()
        pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
        updated = (
            pattern.sub(text + "\n", current) if pattern.search(current) else current.rstrip() + "\n\n" + text
        )
        path.write_text(updated)


if __name__ == "__main__":
    main()
