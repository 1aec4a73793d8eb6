"""Shapes of case submissions, decisions, case details and outcomes as the API sends and takes them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from decision_review.cases.service import CaseResult, DecisionView

JsonScalar = str | int | float | bool | None

CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "A-2024-000123",
    "amount_minor": 12500,
    "merchant_category": "electronics",
    "hour_of_day": 23,
    "card_present": 0,
    "...": "every field of the product line's input contract (GET /api/v1/products/{product})",
}


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ReasonOut(_Out):
    code: str | None = None
    text: str | None = None
    field: str | None = None
    contribution: float | None = Field(default=None, description="SHAP contribution, calibrated log-odds.")
    source: str | None = Field(default=None, description="model, policy or standard (human decisions).")
    adverse_action: bool | None = None
    use: str | None = Field(default=None, description="decision or adverse_action (human decisions).")


class VersionOut(_Out):
    name: str
    version: str


class DecisionOut(_Out):
    outcome: str
    kind: str = Field(description="auto, review or override")
    score: float | None
    winning_rule: str | None
    rule_hits: list[str]
    reason: str | None = Field(description="Why the engine routed or decided it (automatic decisions).")
    reasons: list[ReasonOut]
    decided_by: str
    decided_at: dt.datetime
    policy: VersionOut | None
    model: VersionOut | None
    queue: str | None = None
    priority: int | None = None
    review_state: str | None = None
    sla_due_at: dt.datetime | None = None


class SubmissionOut(BaseModel):
    """One submitted case's result. `duplicate` true: the case id was stored before with the same
    inputs, this is its stored decision, and nothing was written."""

    case_id: str
    status: Literal["created", "duplicate", "conflict", "invalid"]
    duplicate: bool
    decision: DecisionOut | None = None
    error: str | None = None
    problems: list[dict[str, Any]] = Field(default_factory=list)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[dict[str, JsonScalar]] = Field(description="Cases, each an object like a single submission.")
    explain: Literal["needed", "all"] = Field(
        default="needed", description="Explain review and decline cases (needed) or every case (all)."
    )


class BatchOut(BaseModel):
    product: str
    counts: dict[str, int] = Field(description="Results by status: created, duplicate, invalid.")
    outcomes: dict[str, int] = Field(description="Decisions by outcome (created and duplicate cases).")
    results: list[SubmissionOut]


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bad: bool = Field(
        description="true: the bad outcome happened (defaulted, fraud confirmed); false: it did not."
    )
    description: str | None = Field(
        default=None, max_length=200, description="In the product's words: repaid, defaulted, ..."
    )
    note: str | None = Field(default=None, max_length=4000)


class OutcomeOut(BaseModel):
    id: int
    label: int
    description: str | None
    note: str | None
    recorded_by: str
    recorded_at: dt.datetime


class CaseDetailOut(BaseModel):
    product: str
    case_id: str
    status: str
    received_at: dt.datetime
    inputs: dict[str, Any]
    protected: dict[str, Any] | None = Field(description="Derived protected attributes (compliance only).")
    decision: DecisionOut | None = Field(description="The decision in force.")
    decisions: list[dict[str, Any]] = Field(
        description="Every decision, oldest first, with its full explanation."
    )
    rules: list[dict[str, Any]] = Field(description="The rules that fired, with their action and reason.")
    review: dict[str, Any] | None
    approvals: list[dict[str, Any]]
    outcomes: list[OutcomeOut]
    history: list[dict[str, Any]] = Field(description="The case's audit events, in chain order.")
    auto_decisions_enabled: bool


def decision_out(view: DecisionView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "outcome": view.outcome,
        "kind": view.kind,
        "score": view.score,
        "winning_rule": view.winning_rule,
        "rule_hits": view.rule_hits,
        "reason": view.reason,
        "reasons": view.reasons,
        "decided_by": view.decided_by,
        "decided_at": view.decided_at,
        "policy": view.policy,
        "model": view.model,
        "queue": view.queue,
        "priority": view.priority,
        "review_state": view.review_state,
        "sla_due_at": view.sla_due_at,
    }


def submission_out(result: CaseResult) -> dict[str, Any]:
    """A result as plain JSON-able values (batch responses skip pydantic for speed)."""
    decision = decision_out(result.decision)
    if decision is not None:
        for key in ("decided_at", "sla_due_at"):
            if decision[key] is not None:
                decision[key] = decision[key].isoformat().replace("+00:00", "Z")
    return {
        "case_id": result.case_id,
        "status": result.status,
        "duplicate": result.duplicate,
        "decision": decision,
        "error": result.error,
        "problems": result.problems,
    }
