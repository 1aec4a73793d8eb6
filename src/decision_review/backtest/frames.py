"""Backtest results as pandas frames, for analysts who sort, filter and plot in a notebook.

Why: the typed reports are right for files and APIs, but a risk analyst tuning thresholds wants a
table to query ("which points keep review under 25 %?"). These frames hold the same figures, one
row per sweep point, per group, per rule or per swap direction.
"""

from __future__ import annotations

import pandas as pd

from decision_review.backtest.schemas import BacktestReport, PolicyResult, SweepResult


def sweep_frame(sweep: SweepResult) -> pd.DataFrame:
    """One row per threshold pair: rates, bad rate, workload, loss, lowest AIR, targets met."""
    rows = [
        {
            "approve_below": p.approve_below,
            "decline_at_or_above": p.decline_at_or_above,
            "approve": p.approve,
            "decline": p.decline,
            "review": p.review,
            "automation": p.automation,
            "bad_rate_approved": p.bad_rate_approved,
            "review_per_day": p.review_per_day,
            "expected_loss": p.expected_loss,
            "min_air": p.min_air,
            "min_air_group": p.min_air_group,
            "meets_targets": p.meets_targets,
            "misses": "; ".join(p.misses),
            "chosen": i == sweep.chosen,
            "current": i == sweep.current,
        }
        for i, p in enumerate(sweep.points)
    ]
    return pd.DataFrame(rows)


def fairness_frame(result: PolicyResult, stage: str = "auto", *, intersections: bool = False) -> pd.DataFrame:
    """One row per group of each attribute in one stage: n, approval rate and AIR with intervals, verdict."""
    rows = []
    for attribute in result.fairness.stage(stage).attributes:
        if len(attribute.members) > 1 and not intersections:
            continue
        for g in attribute.groups:
            rows.append(
                {
                    "attribute": attribute.attribute,
                    "group": g.group,
                    "n": g.n,
                    "approval_rate": g.selection_rate.value,
                    "approval_low": g.selection_rate.low,
                    "approval_high": g.selection_rate.high,
                    "decline_rate": g.decline_rate.value,
                    "referral_rate": g.referral_rate.value,
                    "air": g.air.value,
                    "air_low": g.air.low,
                    "air_high": g.air.high,
                    "reference": g.reference,
                    "small": g.small,
                    "four_fifths": "ref"
                    if g.reference
                    else {True: "pass", False: "fail", None: "-"}[g.passes_four_fifths],
                    "screen": attribute.screen.value,
                }
            )
    return pd.DataFrame(rows)


def summary_frame(report: BacktestReport) -> pd.DataFrame:
    """The side-by-side figures, one column per policy (rates as fractions, money in integer units)."""
    columns = {}
    for r in report.policies:
        columns[f"{r.role} {r.policy_name} v{r.policy_version}"] = {
            "approve_below": r.approve_below,
            "decline_at_or_above": r.decline_at_or_above,
            "approve": r.approve.value,
            "decline": r.decline.value,
            "review": r.review.value,
            "error": r.error.value,
            "automation": r.automation.value,
            "bad_rate_approved": r.bad_rate_approved.value,
            "bad_rate_declined": r.bad_rate_declined.value,
            "bad_rate_review": r.bad_rate_review.value,
            "expected_loss": r.losses.expected if r.losses else None,
            "realised_loss": r.losses.realised if r.losses else None,
            "review_per_day": r.workload.review_per_day,
        }
    return pd.DataFrame(columns)


def swaps_frame(report: BacktestReport) -> pd.DataFrame:
    """One row per direction of change, with its bad rate and the rules that decided it."""
    if report.swaps is None:
        return pd.DataFrame()
    return pd.DataFrame(
        [
            {
                "baseline": d.baseline,
                "candidate": d.candidate,
                "cases": d.cases,
                "share": d.share,
                "bad_rate": d.bad.value,
                "candidate_rules": ", ".join(f"{x.rule} ({x.cases})" for x in d.candidate_reasons),
                "baseline_rules": ", ".join(f"{x.rule} ({x.cases})" for x in d.baseline_reasons),
                "examples": ", ".join(d.examples),
            }
            for d in report.swaps.directions
        ]
    )


def rules_frame(result: PolicyResult) -> pd.DataFrame:
    """One row per rule (or threshold, or QA sample) that decided cases."""
    return pd.DataFrame(
        [
            {
                "rule": r.rule,
                "outcome": r.outcome,
                "cases": r.cases,
                "share": r.share,
                "bad_rate": r.bad.value,
                "reason": r.reason,
            }
            for r in result.rules
        ]
    )
