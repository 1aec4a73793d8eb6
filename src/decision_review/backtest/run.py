"""The backtest core: replay a candidate (and a baseline) policy over history and compare. No I/O.

Why one function for both policies: the comparison is only fair when both see the same cases
through the same engine code, so the history is checked and scored once per model (a baseline on
the candidate's model reuses the scores) and each policy's rules are evaluated once. Every figure
is a count over whole arrays (numpy bincounts, polars group-bys); nothing loops over cases.

>>> run = run_backtest(history, candidate_engine, baseline_engine)  # doctest: +SKIP
>>> run.report.candidate.approve.value, run.report.swaps.changed  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
import polars as pl

from decision_review.backtest.history import History
from decision_review.backtest.replay import (
    APPROVE,
    DECLINE,
    ERROR,
    OUTCOMES,
    REVIEW,
    PolicyReplay,
    ScoredCases,
    replay_policy,
    score_cases,
)
from decision_review.backtest.schemas import (
    ApprovalRate,
    BacktestReport,
    BacktestSettings,
    BadRate,
    HistorySummary,
    Losses,
    OutcomeNames,
    PolicyResult,
    QueueLoad,
    Rate,
    ReasonCount,
    RuleCount,
    ScoreHistogram,
    SwapCell,
    SwapDirection,
    SwapReport,
    Workload,
)
from decision_review.engine import DecisionEngine
from decision_review.fairness import FairnessReport, fairness_report

Progress = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class BacktestRun:
    """A finished backtest: the report, and the per-case replays behind it (for drill-down)."""

    history: History
    report: BacktestReport
    replays: dict[str, PolicyReplay]

    def cases(self) -> pd.DataFrame:
        """One row per case: id, known outcome, and each policy's score, outcome and winning rule."""
        first = next(iter(self.replays.values()))
        out = {"case_id": first.scored.ids.to_pandas()}
        y = self.history.outcome
        if y is not None:
            unknown = np.isnan(y)
            out["bad"] = pd.arrays.IntegerArray(np.where(unknown, 0, y).astype(np.int8), unknown)
        for role, replay in self.replays.items():
            out[f"{role}_score"] = replay.score
            out[f"{role}_outcome"] = np.asarray(OUTCOMES, dtype=object)[replay.outcome]
            out[f"{role}_rule"] = replay.decided.get_column("winning_rule").to_numpy()
        return pd.DataFrame(out)

    def swaps(self) -> pd.DataFrame:
        """The cases whose outcome differs between baseline and candidate (empty without a baseline)."""
        if "baseline" not in self.replays:
            return self.cases().iloc[0:0]
        changed = self.replays["candidate"].outcome != self.replays["baseline"].outcome
        return self.cases()[changed].reset_index(drop=True)


def run_backtest(
    history: History,
    candidate: DecisionEngine,
    baseline: DecisionEngine | None = None,
    *,
    settings: BacktestSettings | None = None,
    progress: Progress | None = None,
) -> BacktestRun:
    """Replay `candidate` (and `baseline`) over `history`; figures side by side and the swap set.

    The policies may use different models (each model scores the history once). Per-case outcomes
    equal `DecisionEngine.decide` on the same cases.
    """
    settings = settings or BacktestSettings()
    say = progress or (lambda _message: None)
    engines = {"candidate": candidate, **({"baseline": baseline} if baseline is not None else {})}
    scored: dict[str, ScoredCases] = {}
    replays: dict[str, PolicyReplay] = {}
    for role, engine in engines.items():
        key = engine.model.digest
        if key not in scored:
            say(
                f"checking and scoring {len(history):,} cases with model "
                f"{engine.model.name} v{engine.model.version}"
            )
            scored[key] = score_cases(engine.model, history.cases)
        say(f"replaying the {role} policy {engine.policy.name} v{engine.policy.version}")
        replays[role] = replay_policy(engine.policy, scored[key])
    results = []
    for role, replay in replays.items():
        say(f"computing the {role}'s figures and fairness report")
        results.append(policy_result(role, replay, history, settings))
    notes = []
    swaps = None
    if baseline is not None:
        swaps = swap_report(replays["baseline"], replays["candidate"], history, settings)
        if baseline.model.digest != candidate.model.digest:
            notes.append(
                f"the policies use different models ({baseline.model.name} v{baseline.model.version} and "
                f"{candidate.model.name} v{candidate.model.version}): each model scored the history"
            )
    report = BacktestReport(
        history=history_summary(history), settings=settings, policies=results, swaps=swaps, notes=notes
    )
    return BacktestRun(history=history, report=report, replays=replays)


def history_summary(history: History) -> HistorySummary:
    known = bad = 0
    if history.outcome is not None:
        known = int((~np.isnan(history.outcome)).sum())
        bad = int((history.outcome == 1).sum())
    return HistorySummary(
        name=history.name,
        cases=len(history),
        outcome_column=history.outcome_column,
        known_outcomes=known,
        bad_rate=bad / known if known else None,
        amount_column=history.amount_column,
        currency=history.currency,
        minor_digits=history.minor_digits,
        product=history.product,
        attributes=[a.name for a in history.attributes],
        human_columns=history.human_columns,
        notes=list(history.notes),
    )


def outcome_names(replay: PolicyReplay) -> OutcomeNames:
    labels = replay.policy.spec.outcome_labels
    return OutcomeNames(approve=labels.approve, decline=labels.decline, review=labels.review)


def policy_result(
    role: str, replay: PolicyReplay, history: History, settings: BacktestSettings
) -> PolicyResult:
    """Every figure of one policy over the history."""
    policy, model = replay.policy, replay.scored.model
    codes = replay.outcome
    n = len(codes)
    counts = np.bincount(codes, minlength=4)
    y = history.outcome
    notes: list[str] = []
    if history.dataset is not None and model.card.training_data.name == history.dataset:
        notes.append(
            f"model {model.name} v{model.version} was trained on data set {history.dataset!r}, so these "
            "figures are partly in-sample and flatter the model; replay a held-out history for a fair "
            "estimate"
        )
    fairness, fairness_notes = policy_fairness(replay, history, settings)
    notes += fairness_notes
    return PolicyResult(
        role=role,
        policy_name=policy.name,
        policy_version=policy.version,
        policy_digest=policy.digest,
        source=policy.source,
        product=policy.product,
        model_name=model.name,
        model_version=model.version,
        model_digest=model.digest,
        approve_below=policy.approve_below,
        decline_at_or_above=policy.decline_at_or_above,
        labels=outcome_names(replay),
        cases=n,
        approve=Rate.of(counts[APPROVE], n),
        decline=Rate.of(counts[DECLINE], n),
        review=Rate.of(counts[REVIEW], n),
        error=Rate.of(counts[ERROR], n),
        automation=Rate.of(counts[APPROVE] + counts[DECLINE], n),
        approval_rate=approval_rate(codes, history),
        bad_rate_approved=bad_rate(codes == APPROVE, y),
        bad_rate_declined=bad_rate(codes == DECLINE, y),
        bad_rate_review=bad_rate(codes == REVIEW, y),
        losses=losses(codes == APPROVE, replay.score, history, settings.lgd),
        workload=workload(replay, codes, settings.volume_per_day),
        rules=rule_counts(replay, codes, y),
        score_histogram=score_histogram(replay.score, y, settings.histogram_bins),
        fairness=fairness,
        notes=notes,
    )


def bad_rate(mask: np.ndarray, y: np.ndarray | None) -> BadRate:
    cases = int(mask.sum())
    if y is None:
        return BadRate.of(cases, 0, 0)
    known = int((mask & ~np.isnan(y)).sum())
    return BadRate.of(cases, known, int((mask & (y == 1)).sum()))


def approval_rate(codes: np.ndarray, history: History) -> ApprovalRate:
    """Approvals once people decide the referrals: bounds, and an estimate from recorded decisions."""
    decided = int((codes != ERROR).sum())
    if decided == 0:
        return ApprovalRate(low=None, high=None, estimate=None, basis="no case was decided")
    approved = int((codes == APPROVE).sum())
    referred = codes == REVIEW
    low, high = approved / decided, (approved + int(referred.sum())) / decided
    human = history.human_outcome
    if human is None:
        return ApprovalRate(
            low=low, high=high, estimate=None, basis="no human decisions in the history: bounds only"
        )
    recorded = human.notna().to_numpy()
    human_approve = (human == "approve").to_numpy()
    if not recorded.any():
        return ApprovalRate(low=low, high=high, estimate=None, basis="the human decision column is empty")
    people_rate = human_approve.sum() / recorded.sum()
    known_referred = referred & recorded
    estimate = (
        approved
        + int((known_referred & human_approve).sum())
        + people_rate * int((referred & ~recorded).sum())
    ) / decided
    return ApprovalRate(
        low=low,
        high=high,
        estimate=float(estimate),
        basis=(
            f"referred cases with a recorded human decision count as decided; the others at the people's "
            f"approval rate in the history ({people_rate:.1%} of {int(recorded.sum()):,} reviewed cases)"
        ),
    )


def losses(approved: np.ndarray, score: np.ndarray, history: History, lgd: Decimal) -> Losses | None:
    """Expected loss sum(P(bad) x amount x LGD) and realised loss over automatic approvals."""
    if history.amount is None:
        return None
    amount = history.amount
    approved_amount = int(amount[approved].sum())
    expected_units = float(np.dot(score[approved], amount[approved].astype(float)))
    realised = None
    if history.outcome is not None:
        went_bad = approved & (history.outcome == 1)
        realised = _money(Decimal(int(amount[went_bad].sum())) * lgd)
    return Losses(
        currency=history.currency,
        minor_digits=history.minor_digits,
        lgd=lgd,
        approved_amount=approved_amount,
        expected=expected_money(expected_units, lgd),
        realised=realised,
    )


def _money(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def expected_money(units: float, lgd: Decimal) -> int:
    """A float sum of P(bad) x amount as whole money units, x LGD, rounded half to even."""
    return _money(Decimal(repr(units)) * lgd)


def workload(replay: PolicyReplay, codes: np.ndarray, volume_per_day: int | None) -> Workload:
    """Referrals by queue, and per day at the stated volume of new cases a day."""
    n = len(codes)
    review = codes == REVIEW
    queues = (
        pl.DataFrame({"queue": replay.decided.get_column("queue"), "review": review})
        .filter(pl.col("review"))
        .group_by("queue")
        .len()
        .sort(["len", "queue"], descending=[True, False])
    )
    per_day = (lambda count: count / n * volume_per_day) if volume_per_day and n else (lambda _count: None)
    return Workload(
        volume_per_day=volume_per_day,
        review=Rate.of(int(review.sum()), n),
        review_per_day=per_day(int(review.sum())),
        queues=[
            QueueLoad(queue=str(q), cases=int(c), share=c / n if n else 0.0, per_day=per_day(int(c)))
            for q, c in queues.iter_rows()
        ],
    )


def rule_counts(replay: PolicyReplay, codes: np.ndarray, y: np.ndarray | None) -> list[RuleCount]:
    """Cases per winning rule (thresholds and the QA sample included), most frequent first."""
    n = len(codes)
    frame = pl.DataFrame(
        {
            "rule": replay.decided.get_column("winning_rule"),
            "reason": replay.decided.get_column("reason"),
            "outcome": codes,
            "known": ~np.isnan(y) if y is not None else np.zeros(n, bool),
            "bad": (y == 1) if y is not None else np.zeros(n, bool),
        }
    )
    grouped = (
        frame.group_by("rule", "outcome")
        .agg(
            pl.len().alias("cases"),
            pl.col("known").sum(),
            pl.col("bad").sum(),
            pl.col("reason").first(),
        )
        .sort(["cases", "rule"], descending=[True, False])
    )
    return [
        RuleCount(
            rule=str(row["rule"]),
            outcome=OUTCOMES[row["outcome"]],
            cases=row["cases"],
            share=row["cases"] / n,
            bad=BadRate.of(row["cases"], row["known"], row["bad"]),
            reason=row["reason"],
        )
        for row in grouped.iter_rows(named=True)
    ]


def score_histogram(score: np.ndarray, y: np.ndarray | None, bins: int) -> ScoreHistogram:
    edges = np.linspace(0.0, 1.0, bins + 1)
    has = ~np.isnan(score)
    label = np.full(len(score), 2) if y is None else np.where(np.isnan(y), 2, y).astype(int)

    def count(mask: np.ndarray) -> list[int]:
        return np.histogram(score[mask & has], bins=edges)[0].astype(int).tolist()

    return ScoreHistogram(
        edges=edges.tolist(), good=count(label == 0), bad=count(label == 1), unknown=count(label == 2)
    )


def outcome_column(codes: np.ndarray) -> pd.Categorical:
    """Outcome codes as the fairness report reads them: approve/decline/review, missing = not decided."""
    return pd.Categorical.from_codes(np.where(codes == ERROR, -1, codes), categories=list(OUTCOMES[:3]))


def stage_frame(
    codes: np.ndarray, model_codes: np.ndarray, history: History, score: np.ndarray
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """The decisions frame of a fairness report: one outcome column per stage, label and score."""
    notes: list[str] = []
    frame = {
        "model_outcome": outcome_column(model_codes),
        "auto_outcome": outcome_column(codes),
        "score": score,
    }
    stages = {"model": "model_outcome", "auto": "auto_outcome"}
    if history.human_outcome is not None:
        human = history.human_outcome
        human_codes = np.where(human == "approve", APPROVE, np.where(human == "decline", DECLINE, ERROR))
        recorded = human_codes != ERROR
        final = np.where(codes == REVIEW, np.where(recorded, human_codes, ERROR), codes)
        frame["human_outcome"] = outcome_column(human_codes)
        frame["final_outcome"] = outcome_column(final)
        stages |= {"human": "human_outcome", "final": "final_outcome"}
        unresolved = int(((codes == REVIEW) & ~recorded).sum())
        if unresolved:
            notes.append(
                f"final stage: {unresolved:,} cases this policy refers have no recorded human decision; "
                "they are left out of the final stage"
            )
    else:
        notes.append(
            "no human decisions in the history (human_outcome): the human and final stages are absent"
        )
    if history.outcome is not None:
        frame["bad"] = history.outcome
    if history.reviewer is not None:
        frame["reviewer"] = history.reviewer.to_numpy()
    if history.overridden is not None:
        frame["overridden"] = history.overridden.to_numpy()
    return pd.DataFrame(frame), stages, notes


def policy_fairness(
    replay: PolicyReplay,
    history: History,
    settings: BacktestSettings,
    *,
    approve_below: float | None = None,
    decline_at_or_above: float | None = None,
) -> tuple[FairnessReport, list[str]]:
    """The fairness report of a policy (at its thresholds, or at others) over the history."""
    a = replay.approve_below if approve_below is None else approve_below
    d = replay.decline_at_or_above if decline_at_or_above is None else decline_at_or_above
    codes = (
        replay.outcome
        if (a, d) == (replay.approve_below, replay.decline_at_or_above)
        else (replay.outcome_codes(a, d))
    )
    frame, stages, notes = stage_frame(codes, replay.model_codes(a, d), history, replay.score)
    notes += history.reference_notes
    report = fairness_report(
        frame,
        history.groups,
        stages=stages,
        label="bad" if history.outcome is not None else None,
        score="score" if history.outcome is not None else None,
        reviewer="reviewer" if history.reviewer is not None else None,
        override="overridden" if history.overridden is not None else None,
        intersections=settings.intersections,
        min_group_size=settings.min_group_size,
        air_threshold=settings.air_threshold,
        n_bootstrap=settings.n_bootstrap,
        confidence=settings.confidence,
        seed=settings.seed,
        **history.fairness_settings(),
    )
    return report, notes


def swap_report(
    baseline: PolicyReplay, candidate: PolicyReplay, history: History, settings: BacktestSettings
) -> SwapReport:
    """Which cases change outcome, in which direction, how they turned out and which rules moved them."""
    before, after = baseline.outcome.astype(np.int64), candidate.outcome.astype(np.int64)
    n = len(before)
    cell = before * 4 + after
    y = history.outcome
    cases = np.bincount(cell, minlength=16)
    known = np.bincount(cell, weights=~np.isnan(y), minlength=16) if y is not None else np.zeros(16)
    bad = np.bincount(cell, weights=(y == 1), minlength=16) if y is not None else np.zeros(16)
    matrix = [
        SwapCell(
            baseline=OUTCOMES[b],
            candidate=OUTCOMES[c],
            cases=int(cases[b * 4 + c]),
            bad=BadRate.of(cases[b * 4 + c], known[b * 4 + c], bad[b * 4 + c]),
        )
        for b in range(4)
        for c in range(4)
        if cases[b * 4 + c] or (b < 3 and c < 3)
    ]
    changed_cells = [k for k in np.flatnonzero(cases) if k // 4 != k % 4]
    reasons = pl.DataFrame(
        {
            "cell": cell,
            "candidate_rule": candidate.decided.get_column("winning_rule"),
            "candidate_reason": candidate.decided.get_column("reason"),
            "baseline_rule": baseline.decided.get_column("winning_rule"),
            "baseline_reason": baseline.decided.get_column("reason"),
        }
    ).filter(pl.col("cell").is_in([int(k) for k in changed_cells]))
    directions = []
    ids = candidate.scored.ids
    for k in sorted(changed_cells, key=lambda k: (-cases[k], k)):
        rows = reasons.filter(pl.col("cell") == int(k))
        directions.append(
            SwapDirection(
                baseline=OUTCOMES[k // 4],
                candidate=OUTCOMES[k % 4],
                cases=int(cases[k]),
                share=float(cases[k] / n),
                bad=BadRate.of(cases[k], known[k], bad[k]),
                candidate_reasons=_top_reasons(rows, "candidate", settings.swap_reasons),
                baseline_reasons=_top_reasons(rows, "baseline", settings.swap_reasons),
                examples=[str(ids[int(i)]) for i in np.flatnonzero(cell == k)[: settings.swap_examples]],
            )
        )
    return SwapReport(
        total=n, changed=int(sum(cases[k] for k in changed_cells)), matrix=matrix, directions=directions
    )


def _top_reasons(rows: pl.DataFrame, side: str, k: int) -> list[ReasonCount]:
    top = (
        rows.group_by(f"{side}_rule")
        .agg(pl.len().alias("cases"), pl.col(f"{side}_reason").first())
        .sort(["cases", f"{side}_rule"], descending=[True, False])
        .head(k)
    )
    return [ReasonCount(rule=str(r[0]), reason=r[2], cases=int(r[1])) for r in top.iter_rows()]
