"""Decide benchmark: the whole `decide` over a million cases, per stage, against one case at a time.

Figures (same run, same machine):
- `decide` over N German-credit-shaped cases (resampled) with a 10-rule policy, explanations off:
  cases/s per stage (check, score, policy) and in total;
- the explain stage: `decide` with explanations for the cases that need them (review, decline) over
  a smaller batch, as explained cases/s;
- a per-case baseline on 10,000 cases: score, policy and explanation called one case at a time;
- one case end to end (`decide` on a one-row frame with its explanation): median and p99 latency,
  wall and CPU time, and the median of each stage.

Run:  .venv/bin/python benchmarks/bench_decide.py [--rows N] [--explain-rows N] [--per-case N] [--write]
``--write`` replaces the "Decide" section of benchmarks/RESULTS.md with this run's figures.
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
import polars as pl
import yaml
from results import machine, write_section

from decision_review.datasets import load_dataset
from decision_review.engine import DecisionEngine
from decision_review.modeling.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Decide (bench_decide.py)"
RULES = 10


def ten_rule_policy(folder: Path) -> Path:
    """The bundled German credit policy cut to its first ten rules (knock-outs, referrals, approvals)."""
    spec = yaml.safe_load((ROOT / "policies" / "german_credit.yaml").read_text())
    spec["rules"] = [r for r in spec["rules"] if not r.get("shadow")][:RULES]
    spec.pop("golden_cases", None)
    path = folder / "ten_rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def resample(n: int, seed: int) -> pd.DataFrame:
    source = load_dataset("german_credit").frame
    rng = np.random.default_rng(seed)
    cases = source.iloc[rng.integers(0, len(source), n)].reset_index(drop=True)
    cases.insert(0, "case_id", pd.array([f"B{i:07d}" for i in range(n)], dtype="str"))
    return cases


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "-"


def per_case_baseline(engine: DecisionEngine, cases: pd.DataFrame) -> dict[str, float]:
    """Seconds per case for each stage called on one case at a time (the naive online service)."""
    model, policy = engine.model, engine.policy
    checked = model.check(cases)
    frame = checked.frame
    scores = model.predict_proba(frame)
    policy_input = policy_frame(engine, cases, checked, scores)
    n = len(cases)
    start = time.perf_counter()
    for i in range(n):
        model.predict_proba(frame.iloc[i : i + 1])
    score = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(n):
        policy.evaluate(policy_input.slice(i, 1))
    evaluate = (time.perf_counter() - start) / n
    m = min(n, 1_000)
    start = time.perf_counter()
    for i in range(m):
        model.explain(frame.iloc[i : i + 1], top_k=engine.max_reasons)
    explain = (time.perf_counter() - start) / m
    return {"score": score, "policy": evaluate, "explain": explain}


def policy_frame(engine: DecisionEngine, cases: pd.DataFrame, checked, scores: np.ndarray) -> pl.DataFrame:
    """The frame the policy reads, built once, so the per-case baseline times the policy alone."""
    columns = {}
    for name, dtype in engine.policy.input_columns.items():
        if name == "score":
            values = scores
        elif name in ("out_of_range", "unseen_category", "missing_count"):
            values = getattr(checked, name)
        elif name == "case_id":
            values = cases["case_id"].to_numpy(dtype=object)
        else:
            values = checked.frame[name].to_numpy(dtype=float if dtype == pl.Float64() else object)
        columns[name] = pl.Series(name, values).cast(dtype)
    return pl.DataFrame(columns)


def timed(fn):
    """Result, wall seconds and CPU seconds (all threads) of one call.

    CPU time is reported beside wall time because the machine may be shared: wall time then
    includes waiting for a core, CPU time does not.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def policy_alone(engine: DecisionEngine, cases: pd.DataFrame, repeat: int = 3) -> tuple[float, float]:
    """Best wall and CPU seconds of `CompiledPolicy.evaluate` alone over the prepared policy frame."""
    checked = engine.model.check(cases)
    frame = policy_frame(engine, cases, checked, engine.model.predict_proba(checked.frame))
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        _, wall, cpu = timed(lambda: engine.policy.evaluate(frame))
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def one_case_latency(engine: DecisionEngine, n: int) -> dict[str, np.ndarray]:
    """Wall and CPU milliseconds of `decide` on one-row frames (explain="all"), and per stage."""
    rows = resample(n, seed=1)
    for i in range(min(n, 50)):  # warm up
        engine.decide(rows.iloc[i : i + 1], explain="all")
    out: dict[str, list[float]] = {"wall": [], "cpu": []}
    for i in range(n):
        one = rows.iloc[i : i + 1]
        decisions, wall, cpu = timed(lambda one=one: engine.decide(one, explain="all"))
        out["wall"].append(wall)
        out["cpu"].append(cpu)
        for stage, seconds in decisions.timings.items():
            out.setdefault(stage, []).append(seconds)
    return {k: np.array(v) * 1000 for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--explain-rows", type=int, default=50_000)
    parser.add_argument("--per-case", type=int, default=10_000)
    parser.add_argument("--one-case", type=int, default=2_000, help="one-row decide calls for latency")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    load_start = os.getloadavg()[0]
    registry = ModelRegistry(ROOT / "models")
    with tempfile.TemporaryDirectory() as tmp:
        engine = DecisionEngine.from_policy_file(ten_rule_policy(Path(tmp)), registry)
    cases = resample(args.rows, seed=0)
    print(
        f"policy: {len(engine.policy.rule_ids)} rules; cases: {len(cases):,}; load average {load_start:.1f}"
    )

    engine.decide(cases.head(1_000))  # warm up
    bulk, total, total_cpu = timed(lambda: engine.decide(cases, explain="none"))
    t = bulk.timings
    outcomes = bulk.frame["outcome"].value_counts(normalize=True).round(3).to_dict()
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in t.items())
    print(
        f"bulk decide (no explanations): {rate(len(cases), total)} cases/s "
        f"(wall {total:.2f} s, CPU {total_cpu:.2f} s); stages {stages}; outcomes {outcomes}"
    )
    evaluate_wall, evaluate_cpu = policy_alone(engine, cases)
    print(f"policy evaluation alone: {rate(len(cases), evaluate_wall)} cases/s (CPU {evaluate_cpu:.2f} s)")

    sub = cases.head(args.explain_rows)
    explained, total_explained, _ = timed(lambda: engine.decide(sub, explain="needed"))
    n_explained = len(explained.contributions)
    te = explained.timings
    print(f"decide with explanations: {rate(len(sub), total_explained)} cases/s; {n_explained:,} explained")

    base_cases = cases.head(args.per_case)
    baseline = per_case_baseline(engine, base_cases)
    print(f"one case at a time: {baseline}")

    one = one_case_latency(engine, args.one_case)
    p50, p99 = np.percentile(one["wall"], [50, 99])
    cpu50 = np.median(one["cpu"])
    stage_names = [s for s in one if s not in ("wall", "cpu")]
    stage_medians = ", ".join(f"{s} {np.median(one[s]):.2f}" for s in stage_names)
    print(
        f"one case end to end: wall p50 {p50:.2f} ms, p99 {p99:.2f} ms; CPU p50 {cpu50:.2f} ms; "
        f"{stage_medians}"
    )

    rows_md = [
        ("check (validate + coerce)", rate(len(cases), t["check"]), ""),
        ("score", rate(len(cases), t["score"]), rate(1, baseline["score"])),
        ("policy stage of decide (10 rules)", rate(len(cases), t["policy"]), rate(1, baseline["policy"])),
        ("policy evaluation alone (best of 3)", rate(len(cases), evaluate_wall), ""),
        ("assemble the decisions frame", rate(len(cases), t.get("assemble", 0.0)), ""),
        ("explain (per explained case)", rate(n_explained, te["explain"]), rate(1, baseline["explain"])),
        ("decide, no explanations (total)", rate(len(cases), total), ""),
        (
            f"decide, explaining review + decline ({n_explained / len(sub):.0%})",
            rate(len(sub), total_explained),
            "",
        ),
    ]
    load_end = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        f"Machine: {machine(('polars', 'xgboost', 'pandas'))}",
        f"Cases: {len(cases):,} resampled from German credit; policy: the bundled one cut to {RULES} rules; "
        f"explanations measured on {len(sub):,} cases; per-case baseline on {len(base_cases):,} cases "
        f"(explanation baseline on {min(len(base_cases), 1000):,}); "
        f"one-case latency over {args.one_case:,} calls",
        f"Load average {load_start:.1f} at the start, {load_end:.1f} at the end (2 cores): "
        + (
            "other processes shared the CPUs, so wall times are inflated; CPU times are given beside them"
            if max(load_start, load_end) > 1.0
            else "quiet"
        ),
        "",
        "| stage | batch cases/s | one case at a time, cases/s |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows_md],
        "",
        f"- bulk decide without explanations: {rate(len(cases), total)} cases/s, wall {total:.2f} s, "
        f"CPU {total_cpu:.2f} s (target >= 150,000 cases/s)",
        f"- policy evaluation: {rate(len(cases), evaluate_wall)} cases/s alone, "
        f"{rate(len(cases), t['policy'])} cases/s as decide's policy stage (target >= 5,000,000)",
        f"- batch vs one case at a time: score {baseline['score'] * len(cases) / t['score']:,.0f}x, "
        f"policy {baseline['policy'] * len(cases) / t['policy']:,.0f}x",
        f"- one case end to end (decide on a one-row frame: check, score, policy, explanation, frame; in "
        f"process): median {p50:.2f} ms wall, {cpu50:.2f} ms CPU; p99 {p99:.2f} ms wall "
        f"(target median < 5 ms)",
        f"- one case, median per stage (ms, wall): {stage_medians}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(SECTION, text.removeprefix(SECTION))


if __name__ == "__main__":
    main()
