"""The typed backtest report: what the terminal, the JSON file, the HTML report and the API show.

Why pydantic: one validated, JSON-serialisable shape for every view, so the figures cannot drift
between them. Every rate carries its counts (a risk analyst reads "4.1 % (41 of 1,000)", never a
bare percentage), a figure that cannot be computed is None with a note, and money is an integer
in the history's unit (whole units, or minor units such as cents), never a float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from decision_review.fairness import FairnessReport


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rate(_Frozen):
    """`count` of `total` cases, and their ratio (None when there are no cases)."""

    count: int
    total: int
    value: float | None

    @classmethod
    def of(cls, count: int, total: int) -> Rate:
        return cls(count=int(count), total=int(total), value=(count / total) if total else None)


class BadRate(_Frozen):
    """Bad outcomes among cases whose outcome is known; None when none is known ("n/a")."""

    cases: int = Field(description="Cases in the set, known outcome or not.")
    known: int = Field(description="Cases with a known outcome.")
    bad: int
    value: float | None

    @classmethod
    def of(cls, cases: int, known: int, bad: int) -> BadRate:
        return cls(cases=int(cases), known=int(known), bad=int(bad), value=(bad / known) if known else None)


class ApprovalRate(_Frozen):
    """Share of decided cases that end approved, once people have decided the referred ones.

    `low` counts every referral as declined, `high` as approved; `estimate` applies the approval
    rate people showed on the history's reviewed cases (None without recorded human decisions).
    """

    low: float | None
    high: float | None
    estimate: float | None
    basis: str


class Losses(_Frozen):
    """Money among automatic approvals, in integer units of the history's amount column."""

    currency: str | None
    minor_digits: int
    lgd: Decimal = Field(description="Loss given default: the share of the amount lost when a case goes bad.")
    approved_amount: int | None = Field(description="Sum of amounts approved automatically.")
    expected: int | None = Field(
        description="Sum over automatic approvals of P(bad) x amount x LGD, rounded."
    )
    realised: int | None = Field(
        description="Sum over automatic approvals that went bad of amount x LGD (known outcomes only)."
    )


class QueueLoad(_Frozen):
    queue: str
    cases: int
    share: float = Field(description="Share of all cases sent to this queue.")
    per_day: float | None = Field(description="Cases a day at the stated volume; None without a volume.")


class Workload(_Frozen):
    volume_per_day: int | None
    review: Rate
    review_per_day: float | None
    queues: list[QueueLoad]


class RuleCount(_Frozen):
    """How often a rule (or a threshold, or the QA sample) decided, and the bad rate of those cases."""

    rule: str
    outcome: str
    cases: int
    share: float
    bad: BadRate
    reason: str | None = None


class ScoreHistogram(_Frozen):
    """Score counts per bin by known outcome: the data behind the score-distribution plot."""

    edges: list[float]
    good: list[int]
    bad: list[int]
    unknown: list[int]


class OutcomeNames(_Frozen):
    """The product line's words for approve, decline and review (the decline is the adverse one)."""

    approve: str = "approve"
    decline: str = "decline"
    review: str = "review"

    def of(self, outcome: str) -> str:
        return {"approve": self.approve, "decline": self.decline, "review": self.review}.get(outcome, outcome)


class PolicyResult(_Frozen):
    """One policy replayed over the history."""

    role: Literal["candidate", "baseline"]
    policy_name: str
    policy_version: int
    policy_digest: str
    source: str
    product: str
    model_name: str
    model_version: int
    model_digest: str
    approve_below: float
    decline_at_or_above: float
    labels: OutcomeNames
    cases: int
    approve: Rate
    decline: Rate
    review: Rate
    error: Rate = Field(description="Cases not decided (invalid input under on_invalid_input: error).")
    automation: Rate = Field(description="Decided automatically (approve or decline) among all cases.")
    approval_rate: ApprovalRate
    bad_rate_approved: BadRate
    bad_rate_declined: BadRate
    bad_rate_review: BadRate
    losses: Losses | None
    workload: Workload
    rules: list[RuleCount]
    score_histogram: ScoreHistogram
    fairness: FairnessReport
    notes: list[str] = Field(default_factory=list)


class ReasonCount(_Frozen):
    rule: str
    reason: str | None
    cases: int


class SwapCell(_Frozen):
    baseline: str
    candidate: str
    cases: int
    bad: BadRate


class SwapDirection(_Frozen):
    """Cases whose outcome changes one way, with the rules that decided them under each policy."""

    baseline: str
    candidate: str
    cases: int
    share: float
    bad: BadRate
    candidate_reasons: list[ReasonCount]
    baseline_reasons: list[ReasonCount]
    examples: list[str] = Field(description="A few case ids, for drilling down.")


class SwapReport(_Frozen):
    total: int
    changed: int
    matrix: list[SwapCell]
    directions: list[SwapDirection]


class HistorySummary(_Frozen):
    name: str
    cases: int
    outcome_column: str | None
    known_outcomes: int
    bad_rate: float | None
    amount_column: str | None
    currency: str | None
    minor_digits: int
    product: str | None
    attributes: list[str]
    human_columns: list[str]
    notes: list[str] = Field(default_factory=list)


class BacktestSettings(_Frozen):
    """How the figures are computed; every default is documented in docs/backtest.md."""

    lgd: Decimal = Field(default=Decimal(1), ge=0, le=1)
    volume_per_day: int | None = Field(default=None, ge=1)
    min_group_size: int = Field(default=30, ge=1)
    air_threshold: float = Field(default=0.8, gt=0, le=1)
    n_bootstrap: int = Field(default=500, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int = Field(default=0, ge=0)
    intersections: bool = True
    histogram_bins: int = Field(default=50, ge=2, le=1000)
    swap_reasons: int = Field(default=3, ge=1)
    swap_examples: int = Field(default=5, ge=0)


class SweepPoint(_Frozen):
    """The candidate policy at one pair of thresholds (no intervals: see `SweepResult.chosen_fairness`)."""

    approve_below: float
    decline_at_or_above: float
    approve: float
    decline: float
    review: float
    automation: float
    bad_rate_approved: float | None
    approved_known: int
    review_per_day: float | None
    expected_loss: int | None
    min_air: float | None = Field(
        description="Lowest AIR over the screened groups; None if none is screened."
    )
    min_air_group: str | None
    air: dict[str, dict[str, float | None]] = Field(description="attribute -> group -> AIR at this point.")
    meets_targets: bool
    misses: list[str]


class SweepTargets(_Frozen):
    """Limits a threshold pair must meet (each optional)."""

    max_bad_rate_approved: float | None = Field(default=None, ge=0, le=1)
    max_review_share: float | None = Field(default=None, ge=0, le=1)
    min_air: float | None = Field(default=None, gt=0, le=1)
    min_approval_rate: float | None = Field(default=None, ge=0, le=1)
    min_group_size: int = Field(default=50, ge=1)


class SweepResult(_Frozen):
    policy_name: str
    policy_version: int
    labels: OutcomeNames
    stage: str = "auto"
    targets: SweepTargets
    volume_per_day: int | None
    currency: str | None
    minor_digits: int
    points: list[SweepPoint]
    feasible: list[int] = Field(description="Indexes of the points that meet every target.")
    chosen: int | None = Field(description="The feasible point automating most (ties: lower bad rate).")
    current: int | None = Field(description="The point at the policy's own thresholds, if on the grid.")
    chosen_fairness: FairnessReport | None = Field(
        description="Full fairness report, with bootstrap intervals, at the chosen thresholds."
    )
    notes: list[str] = Field(default_factory=list)


class BacktestReport(_Frozen):
    """A backtest: the history, each policy's figures side by side, the swap set and an optional sweep."""

    generated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    history: HistorySummary
    settings: BacktestSettings
    policies: list[PolicyResult]
    swaps: SwapReport | None = None
    sweep: SweepResult | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def candidate(self) -> PolicyResult:
        return self.policies[0]

    @property
    def baseline(self) -> PolicyResult | None:
        return self.policies[1] if len(self.policies) > 1 else None
