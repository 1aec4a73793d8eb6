"""What the bundled fraud policy does on the backtest history, judged against the known truth.

Generates the seed-8 history (1,000,000 alerts by default; the model never saw any of them),
decides it with `policies/fraud_alerts.yaml` through the engine (explain="none", exactly as
production would decide it), and prints Markdown tables:

- fraud caught by an automatic block, sent to investigation, or missed (closed), overall and per
  injected pattern, by count and by amount;
- the false-block rate (genuine alerts blocked / genuine alerts), block and investigation volumes
  per 10,000 alerts and what share of them is fraud; which rule decided how many alerts;
- block and investigation rates by customer segment (age band, home country), from
  `decision_review.fairness.fairness_report`, with 95% bootstrap intervals.

Outcome mapping: the engine's approve = close, decline = block, review = investigate.

With --training-sweep it first prints the sweep on the training alerts (seed 7) from which the
policy's thresholds and rules were chosen (per threshold, and per rule from the rule hits).

Usage: python benchmarks/fraud_ground_truth.py [--rows N] [--resamples B] [--training-sweep]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from decision_review.datasets.base import derive_protected
from decision_review.datasets.fraud import (
    FRAUD_PATTERNS,
    HISTORY_SEED,
    PROTECTED_ATTRIBUTES,
    TRAINING_SEED,
    generate_alerts,
)
from decision_review.engine import DecisionEngine
from decision_review.fairness import fairness_report, protected_attribute_settings
from decision_review.fairness.schemas import Estimate
from decision_review.modeling.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "fraud_alerts.yaml"
CLOSE, BLOCK, INVESTIGATE = "approve", "decline", "review"
MAPPING_NOTE = (
    "Outcome mapping: the engine's approve = close (genuine), decline = block, review = investigate. "
    "fairness_report calls approve the favourable outcome, so its selection rate is the close rate "
    "and its adverse impact ratio compares close rates; for fraud the adverse outcome is the block, "
    "so the figures to read are the block rate (the report's decline rate), the false-block rate "
    "(the decline rate of a report over the genuine alerts only) and their ratio to the reference group."
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="alerts in the history (seed 8)")
    parser.add_argument("--resamples", type=int, default=200, help="bootstrap resamples for intervals")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument(
        "--training-sweep",
        action="store_true",
        help="also print the threshold and rule sweep on the training set",
    )
    args = parser.parse_args(argv)
    engine = DecisionEngine.from_policy_file(args.policy, ModelRegistry(args.models_dir))

    if args.training_sweep:
        training = decide_with_truth(engine, 200_000, TRAINING_SEED)
        print(f"# Sweep on the training alerts (seed {TRAINING_SEED}, {len(training):,} alerts)\n")
        print(threshold_sweep(training))
        print(rule_sweep(training, engine.policy.approve_below, engine.policy.decline_at_or_above))

    started = time.perf_counter()
    history = decide_with_truth(engine, args.rows, HISTORY_SEED)
    seconds = time.perf_counter() - started
    policy = engine.policy
    print(
        f"# Policy {policy.name} v{policy.version} (digest {policy.digest[:12]}) with model "
        f"{engine.model.name} v{engine.model.version} on the seed-{HISTORY_SEED} history\n"
    )
    print(
        f"{len(history):,} alerts, {int(history['is_fraud'].sum()):,} fraud; generated and decided in "
        f"{seconds:.1f} s. Thresholds: close below {policy.approve_below}, block at or above "
        f"{policy.decline_at_or_above}.\n"
    )
    print(MAPPING_NOTE + "\n")
    print(catch_table(history))
    print(amount_table(history))
    print(rate_table(history))
    print(rule_table(history))
    print(segment_tables(history, args.resamples))


def decide_with_truth(engine: DecisionEngine, rows: int, seed: int) -> pd.DataFrame:
    """The engine's decisions for `rows` generated alerts, with the truth and the segment columns beside."""
    alerts = generate_alerts(rows, seed=seed)
    decided = engine.decide(alerts.frame, explain="none").frame
    errors = int((decided["outcome"] == "error").sum())
    if errors:
        raise SystemExit(
            f"{errors} alerts were decided as errors; first: {decided['error'].dropna().iloc[0]}"
        )
    groups = derive_protected(alerts.frame, PROTECTED_ATTRIBUTES)
    return pd.DataFrame(
        {
            "outcome": decided["outcome"].to_numpy(),
            "winning_rule": decided["winning_rule"].to_numpy(),
            "rule_hits": decided["rule_hits"].array,
            "qa_sample": decided["qa_sample"].to_numpy(),
            "score": decided["score"].to_numpy(),
            "is_fraud": alerts.is_fraud.to_numpy(),
            "pattern": alerts.pattern.to_numpy(),
            "amount_minor": alerts.frame["amount_minor"].to_numpy(),
            **{name: groups[name].to_numpy() for name in groups.columns},
        }
    )


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def catch_table(h: pd.DataFrame) -> str:
    """Where the fraud went (and the genuine alerts), overall and per injected pattern."""
    lines = [
        "## Fraud caught and missed\n",
        "| alerts | n | blocked | investigated | closed (missed, for fraud) |",
        "|---|---:|---:|---:|---:|",
    ]
    fraud = h["is_fraud"] == 1
    rows = [("all fraud", fraud)] + [(p, h["pattern"] == p) for p in FRAUD_PATTERNS]
    rows.append(("genuine (no fraud)", ~fraud))
    for label, mask in rows:
        outcome = h.loc[mask, "outcome"]
        n = len(outcome)
        counts = [int((outcome == o).sum()) for o in (BLOCK, INVESTIGATE, CLOSE)]
        cells = " | ".join(f"{c:,} ({_pct(c, n)})" for c in counts)
        lines.append(f"| {label} | {n:,} | {cells} |")
    return "\n".join(lines) + "\n"


def amount_table(h: pd.DataFrame) -> str:
    """The same for money: fraud amounts in EUR (summed from integer cents)."""
    lines = [
        "## Fraud amounts (EUR)\n",
        "| pattern | fraud amount | blocked | investigated | closed (missed) |",
        "|---|---:|---:|---:|---:|",
    ]
    fraud = h["is_fraud"] == 1
    for label, mask in [("all fraud", fraud)] + [(p, h["pattern"] == p) for p in FRAUD_PATTERNS]:
        part = h.loc[mask]
        total = int(part["amount_minor"].sum())
        sums = [
            int(part.loc[part["outcome"] == o, "amount_minor"].sum()) for o in (BLOCK, INVESTIGATE, CLOSE)
        ]
        cells = " | ".join(f"{s // 100:,} ({_pct(s, total)})" for s in sums)
        lines.append(f"| {label} | {total // 100:,} | {cells} |")
    return "\n".join(lines) + "\n"


def rate_table(h: pd.DataFrame) -> str:
    n = len(h)
    fraud = h["is_fraud"] == 1
    genuine = ~fraud
    blocked = h["outcome"] == BLOCK
    investigated = h["outcome"] == INVESTIGATE
    qa = h["qa_sample"].to_numpy()
    false_blocks = int((blocked & genuine).sum())
    rows = [
        (
            "false-block rate (genuine alerts blocked / genuine alerts)",
            f"{100 * false_blocks / genuine.sum():.3f}% ({false_blocks:,} alerts)",
        ),
        ("blocks per 10,000 alerts", f"{1e4 * blocked.sum() / n:.1f}"),
        ("share of blocks that are fraud", _pct((blocked & fraud).sum(), blocked.sum())),
        ("investigations per 10,000 alerts (review volume)", f"{1e4 * investigated.sum() / n:.1f}"),
        ("  of which QA sample of automatic closes and blocks", f"{1e4 * qa.sum() / n:.1f}"),
        ("share of investigations that are fraud", _pct((investigated & fraud).sum(), investigated.sum())),
        ("genuine alerts investigated / genuine alerts", _pct((investigated & genuine).sum(), genuine.sum())),
        (
            "fraud caught (blocked or investigated)",
            _pct(((blocked | investigated) & fraud).sum(), fraud.sum()),
        ),
    ]
    lines = ["## Rates\n", "| figure | value |", "|---|---:|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines) + "\n"


def rule_table(h: pd.DataFrame) -> str:
    """Which rule (or threshold) decided each alert, and how much of it was fraud."""
    lines = [
        "## Decided by\n",
        "| winning rule | outcome | alerts | per 10,000 | fraud | share fraud |",
        "|---|---|---:|---:|---:|---:|",
    ]
    grouped = h.groupby(["winning_rule", "outcome"], sort=False)["is_fraud"].agg(["size", "sum"])
    for (rule, outcome), row in grouped.sort_values("size", ascending=False).iterrows():
        size, fraud = int(row["size"]), int(row["sum"])
        lines.append(
            f"| {rule} | {outcome} | {size:,} | {1e4 * size / len(h):.1f} | {fraud:,} | {_pct(fraud, size)} |"
        )
    return "\n".join(lines) + "\n"


def _est(e: Estimate | None, scale: float = 100.0, digits: int = 2) -> str:
    if e is None or e.value is None:
        return "-"
    if e.low is None or e.high is None:
        return f"{scale * e.value:.{digits}f}"
    return f"{scale * e.value:.{digits}f} [{scale * e.low:.{digits}f}, {scale * e.high:.{digits}f}]"


def segment_tables(h: pd.DataFrame, resamples: int) -> str:
    """Block, false-block and investigation rates by age band and home country (fairness_report)."""
    names = [a.name for a in PROTECTED_ATTRIBUTES]
    settings = protected_attribute_settings(PROTECTED_ATTRIBUTES)
    common = {"stages": {"policy": "outcome"}, "intersections": False, "n_bootstrap": resamples, **settings}
    everyone = fairness_report(h, h[names], label="is_fraud", score="score", **common)
    genuine = h[h["is_fraud"] == 0].reset_index(drop=True)
    on_genuine = fairness_report(genuine, genuine[names], **common)
    out = [
        "## By customer segment\n",
        f"fairness_report, stage `policy` = the engine's outcome, {resamples} bootstrap resamples, "
        "95% intervals, rates in %. Block rate ratio = the group's block rate / the reference "
        "group's (point estimates); false-block rate = block rate among genuine alerts; missed "
        "fraud = close rate among fraud (the report's FPR: approval rate among bad cases). "
        "Close-rate AIR and screen are the report's four-fifths figures on the close rate.\n",
    ]
    for name in names:
        report = everyone.stage("policy").attribute(name)
        genuine_report = on_genuine.stage("policy").attribute(name)
        reference = report.group(report.reference_group) if report.reference_group else None
        ref_block = reference.decline_rate.value if reference is not None else None
        out += [
            f"### {name} (reference {report.reference_group}; "
            f"close-rate four-fifths screen: {report.screen.value})\n",
            "| group | alerts | fraud rate | block rate | block rate ratio | false-block rate | "
            "investigation rate | missed fraud | close-rate AIR |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g in report.groups:
            fraud_rate = g.n_bad / g.n if g.n else float("nan")
            ratio = (
                f"{g.decline_rate.value / ref_block:.2f}"
                if ref_block and g.decline_rate.value is not None
                else "-"
            )
            marker = " (ref)" if g.reference else (" (small)" if g.small else "")
            false_block = genuine_report.group(g.group).decline_rate
            air = f"{g.air.value:.3f}" if g.air.value is not None else "-"
            out.append(
                f"| {g.group}{marker} | {g.n:,} | {100 * fraud_rate:.2f} | "
                f"{_est(g.decline_rate)} | {ratio} | "
                f"{_est(false_block, digits=3)} | {_est(g.referral_rate)} | {_est(g.fpr, digits=1)} | {air} |"
            )
        out.append("")
    notes = [n for n in everyone.notes + on_genuine.notes if "small" in n or "unknown" in n]
    if notes:
        out.append("Notes: " + "; ".join(dict.fromkeys(notes)) + "\n")
    return "\n".join(out)


def threshold_sweep(h: pd.DataFrame) -> str:
    """Block and investigation thresholds on the scores alone (no rules), against the truth."""
    score = h["score"].to_numpy()
    fraud = h["is_fraud"].to_numpy() == 1
    n, n_fraud, n_genuine = len(h), fraud.sum(), (~fraud).sum()
    lines = [
        "## Block threshold (score >= t blocks)\n",
        "| t | blocks per 10,000 | fraud caught | share of blocks fraud | false-block rate |",
        "|---:|---:|---:|---:|---:|",
    ]
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        b = score >= t
        lines.append(
            f"| {t} | {1e4 * b.sum() / n:.1f} | {_pct((b & fraud).sum(), n_fraud)} | "
            f"{_pct((b & fraud).sum(), b.sum())} | {100 * (b & ~fraud).sum() / n_genuine:.3f}% |"
        )
    lines += [
        "\n## Investigation threshold (t <= score < 0.5 investigated)\n",
        "| t | investigations per 10,000 | share fraud | fraud caught with blocks |",
        "|---:|---:|---:|---:|",
    ]
    for t in (0.005, 0.01, 0.02, 0.03, 0.05, 0.1):
        r = (score >= t) & (score < 0.5)
        lines.append(
            f"| {t} | {1e4 * r.sum() / n:.1f} | {_pct((r & fraud).sum(), r.sum())} | "
            f"{_pct(((score >= t) & fraud).sum(), n_fraud)} |"
        )
    return "\n".join(lines) + "\n"


def rule_sweep(h: pd.DataFrame, approve_below: float, decline_at_or_above: float) -> str:
    """Each rule's hits (shadow rules included), and what it adds below the investigation threshold."""
    hits = pa.array(h["rule_hits"].array)
    rule = pc.list_flatten(hits).to_numpy(zero_copy_only=False)
    row = pc.list_parent_indices(hits).to_numpy()
    fraud = h["is_fraud"].to_numpy()[row] == 1
    score = h["score"].to_numpy()[row]
    pattern = h["pattern"].to_numpy()[row]
    below = score < approve_below
    n = len(h)
    lines = [
        f"## Rules (all hits; 'below' = score under {approve_below}, which the thresholds would close)\n",
        "| rule | genuine per 10,000 | fraud | share fraud | genuine below per 10,000 | fraud below | "
        + " | ".join(f"{p} caught" for p in FRAUD_PATTERNS)
        + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(FRAUD_PATTERNS),
    ]
    pattern_sizes = {p: int((h["pattern"] == p).sum()) for p in FRAUD_PATTERNS}
    for name in dict.fromkeys(rule):
        m = rule == name
        share = " | ".join(_pct((m & (pattern == p)).sum(), pattern_sizes[p]) for p in FRAUD_PATTERNS)
        lines.append(
            f"| {name} | {1e4 * (m & ~fraud).sum() / n:.1f} | {int((m & fraud).sum())} | "
            f"{_pct((m & fraud).sum(), m.sum())} | {1e4 * (m & ~fraud & below).sum() / n:.1f} | "
            f"{int((m & fraud & below).sum())} | {share} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
