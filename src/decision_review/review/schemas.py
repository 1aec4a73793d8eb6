"""Shapes of the review queue and of the workflow's requests and answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from decision_review.review.service import MAX_NOTE, MAX_REQUESTED, MAX_REQUESTED_LENGTH

# Bounds that keep one review action a readable audit event (the body limit alone allows 20 MB).
MAX_CODES = 50
Codes = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=MAX_CODES)]
NOTE = Field(min_length=1, max_length=MAX_NOTE, description="What you checked and why: required.")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecideIn(_In):
    outcome: Literal["approve", "decline"]
    reason_codes: Codes = Field(min_length=1, description="Codes from GET .../reason-codes.")
    note: str = NOTE
    adverse_action_reasons: Codes | None = Field(
        default=None,
        description="A decline's adverse-action reasons; when omitted, the model's reasons for this case.",
    )


class OverrideIn(DecideIn):
    pass


class EscalateIn(_In):
    reason_codes: Codes = Field(min_length=1)
    note: str = NOTE
    queue: str | None = Field(default=None, description="Queue to send it to; default: the same queue.")


class InfoRequestIn(_In):
    reason_codes: Codes = Field(min_length=1)
    note: str = NOTE
    requested: list[Annotated[str, Field(max_length=MAX_REQUESTED_LENGTH)]] = Field(
        min_length=1, max_length=MAX_REQUESTED, description="What information is needed, one item each."
    )


class ApprovalIn(_In):
    grant: bool = Field(description="true: the waiting decision takes effect; false: it is refused.")
    note: str = NOTE


class QueueItemOut(BaseModel):
    case_id: str
    queue: str
    priority: int
    state: str
    claimed_by: str | None
    lease_expires_at: dt.datetime | None
    sla_due_at: dt.datetime | None
    sla_breached: bool
    age_seconds: int
    created_at: dt.datetime
    winning_rule: str | None
    reason: str | None


class QueueOut(BaseModel):
    product: str
    auto_decisions_enabled: bool = Field(
        description="false: the stop switch is on; every new case comes here."
    )
    auto_decisions_note: str | None
    total: int
    items: list[QueueItemOut]


class ClaimOut(BaseModel):
    case_id: str
    claimed_by: str
    lease_expires_at: dt.datetime
    renewed: bool


class StateOut(BaseModel):
    case_id: str
    state: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ReviewOutcomeOut(BaseModel):
    case_id: str
    status: Literal["decided", "overridden", "pending_approval", "refused"]
    outcome: str
    decision_id: int | None
    approval_id: int | None
    reasons: list[dict[str, Any]]
    why_four_eyes: str | None = None


class ReasonCodeOut(BaseModel):
    code: str
    text: str
    source: str
    adverse_action: bool
    field: str | None = None


class ReasonCodesOut(BaseModel):
    product: str
    reason_codes: list[ReasonCodeOut]
    prefilled_adverse_action: list[dict[str, Any]] | None = Field(
        default=None, description="For a case: the model's reasons a decline would carry by default."
    )
