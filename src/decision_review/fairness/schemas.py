"""The typed fairness report: what a compliance officer reads, what the API returns as JSON.

Why pydantic: the same report travels to the terminal, the HTML reports, the API and the audit
export; one validated, JSON-serialisable shape keeps them identical. Every figure that can be
undefined (a group with no cases, no known outcomes) is `None` with a note, never NaN, so the
JSON stays valid and nothing undefined is silently shown as zero.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Estimate(BaseModel):
    """A figure with its percentile bootstrap confidence interval (`low`/`high` None without one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float | None
    low: float | None = None
    high: float | None = None


class Screen(StrEnum):
    """Outcome of the four-fifths screen for one attribute in one stage."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient data"


class Calibration(BaseModel):
    """Mean predicted P(bad) against the observed bad rate, over cases with a score and a known outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(description="Cases with both a score and a known outcome.")
    mean_score: Estimate
    observed_bad_rate: Estimate
    gap: Estimate = Field(description="Observed bad rate minus mean predicted P(bad); 0 = calibrated.")


class GroupMetrics(BaseModel):
    """One group of one attribute in one stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    members: dict[str, str] = Field(description="Attribute -> group; two entries for an intersection.")
    n: int = Field(description="Cases of this group where the stage applied.")
    small: bool = Field(description="n below min_group_size: shown, but not used for the screen verdict.")
    reference: bool = Field(description="This is the attribute's reference group for the AIR.")
    selection_rate: Estimate = Field(description="Approval rate: share of the n cases approved.")
    decline_rate: Estimate
    referral_rate: Estimate = Field(description="Share of the n cases sent to human review.")
    air: Estimate = Field(
        description="Adverse impact ratio: selection rate / reference group's selection rate."
    )
    passes_four_fifths: bool | None = Field(
        description="AIR >= threshold; None for the reference group, small groups and undefined AIR."
    )
    n_good: int = Field(description="Cases with known good outcome (label 0).")
    n_bad: int = Field(description="Cases with known bad outcome (label 1).")
    tpr: Estimate | None = Field(
        description="Approval rate among good applicants; None without a label column."
    )
    fpr: Estimate | None = Field(
        description="Approval rate among bad applicants; None without a label column."
    )
    calibration: Calibration | None = Field(description="None without label and score columns.")
    notes: list[str] = Field(default_factory=list)


class AttributeReport(BaseModel):
    """One protected attribute (or a pair of them) in one stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    members: list[str] = Field(description="The attributes it is made of: one, or two for an intersection.")
    reference_group: str | None
    reference_basis: str | None = Field(
        description="'designated', 'designated (both members)' or 'highest selection rate'."
    )
    groups: list[GroupMetrics]
    demographic_parity_difference: Estimate = Field(
        description="Largest minus smallest selection rate over groups with cases (fairlearn's definition)."
    )
    equalized_odds_difference: Estimate | None = Field(
        description="Larger of the TPR and FPR spreads over groups with both outcomes known; "
        "None without a label column."
    )
    screen: Screen
    failing_groups: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def group(self, name: str) -> GroupMetrics:
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(f"no group {name!r} in attribute {self.attribute!r}")


class StageReport(BaseModel):
    """All attributes for one decision stage (model-only, auto, human, final, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    column: str
    n: int = Field(description="Cases where this stage applied (an outcome is present).")
    n_not_applied: int
    selection_rate: Estimate
    referral_rate: Estimate
    attributes: list[AttributeReport]
    notes: list[str] = Field(default_factory=list)

    def attribute(self, name: str) -> AttributeReport:
        for a in self.attributes:
            if a.attribute == name:
                return a
        raise KeyError(f"no attribute {name!r} in stage {self.stage!r}")


class OverrideGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    members: dict[str, str]
    n: int = Field(description="Cases of this group with an override flag recorded.")
    small: bool
    override_rate: Estimate


class OverrideAttribute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    members: list[str]
    groups: list[OverrideGroup]

    def group(self, name: str) -> OverrideGroup:
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(f"no group {name!r} in attribute {self.attribute!r}")


class ReviewerRow(BaseModel):
    """One reviewer, or one reviewer within one group of an attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reviewer: str
    attribute: str | None = None
    group: str | None = None
    n: int = Field(description="Cases this reviewer reviewed (in this group).")
    small: bool
    approval_rate: Estimate | None = Field(description="From the human stage; None without one.")
    decline_rate: Estimate | None
    override_rate: Estimate | None = Field(description="None without an override column.")


class HumanReviewReport(BaseModel):
    """How people changed the machine's outcome: overrides by group and by reviewer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    human_stage: str | None
    reviewer_column: str | None
    override_column: str | None
    overrides_by_group: list[OverrideAttribute] = Field(default_factory=list)
    reviewers: list[ReviewerRow] = Field(default_factory=list)
    reviewers_by_group: list[ReviewerRow] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class FairnessReport(BaseModel):
    """The whole report: settings, one section per stage, human review, and every disclosure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_cases: int
    attributes: list[str]
    stages: list[StageReport]
    human_review: HumanReviewReport | None = None
    label_column: str | None
    score_column: str | None
    min_group_size: int
    air_threshold: float
    n_bootstrap: int
    confidence: float
    seed: int
    bootstrap_method: str
    notes: list[str] = Field(default_factory=list)

    def stage(self, name: str) -> StageReport:
        for s in self.stages:
            if s.stage == name:
                return s
        raise KeyError(f"no stage {name!r} in this report")
