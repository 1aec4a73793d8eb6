"""HTTP routes of the review workflow: thin adapters over review.service."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from decision_review.api.deps import ServicesDep
from decision_review.cases import repository as cases_repository
from decision_review.products.service import control
from decision_review.review import service
from decision_review.review.auth import QueueReader, Reviewer
from decision_review.review.repository import QueueFilter, list_items
from decision_review.review.schemas import (
    ApprovalIn,
    ClaimOut,
    DecideIn,
    EscalateIn,
    InfoRequestIn,
    OverrideIn,
    QueueOut,
    ReasonCodesOut,
    ReviewOutcomeOut,
    StateOut,
)
from decision_review.store.repository import utc_now
from decision_review.store.tables import ReviewState

router = APIRouter(prefix="/api/v1/products/{product}", tags=["review"])
CASE = "/cases/{case_id}"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown product line or case"},
    409: {
        "description": "The case's state does not allow it (claimed by another, not claimed, decided, ...)"
    },
    422: {"description": "Missing or unknown reason codes, no note, ..."},
}
STATES = [s.value for s in ReviewState]


@router.get("/queue", response_model=QueueOut, summary="The review queue, most urgent first")
def get_queue(
    product: str,
    principal: QueueReader,
    services: ServicesDep,
    queue: str | None = None,
    state: Annotated[
        list[str] | None, Query(description=f"Any of: {', '.join(STATES)}. Default: all but decided.")
    ] = None,
    max_priority: Annotated[int | None, Query(ge=1, le=5)] = None,
    older_than_minutes: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
    winning_rule: Annotated[
        str | None, Query(description="The rule (or threshold) that sent it to review.")
    ] = None,
    mine: Annotated[bool, Query(description="Only cases I hold a live claim on.")] = False,
    sla_breached: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Ordered by priority (1 first), then age (oldest first). An expired claim shows as the state
    it was claimed from: the case is free again."""
    from decision_review.errors import InvalidInput

    unknown = [s for s in state or [] if s not in STATES]
    if unknown:
        raise InvalidInput(
            f"state {', '.join(map(repr, unknown))} is not a review state; states: {', '.join(STATES)}"
        )
    now = utc_now()
    filters = QueueFilter(
        queue=queue,
        states=tuple(state) if state else None,
        max_priority=max_priority,
        older_than=dt.timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None,
        winning_rule=winning_rule,
        claimed_by=principal.name if mine else None,
        sla_breached=sla_breached,
    )
    with services.db.read() as session:
        services.catalog.live(session, product)  # 404 for an unknown product line
        rows, total = list_items(session, product, filters, now=now, limit=limit, offset=offset)
        switch = control(session, product)
    items = [
        {
            "case_id": r.case_id,
            "queue": r.queue,
            "priority": r.priority,
            "state": r.effective_state,
            "claimed_by": r.claimed_by if r.effective_state == ReviewState.CLAIMED else None,
            "lease_expires_at": r.lease_expires_at if r.effective_state == ReviewState.CLAIMED else None,
            "sla_due_at": r.sla_due_at,
            "sla_breached": r.sla_due_at is not None
            and r.sla_due_at < now
            and r.state != ReviewState.DECIDED,
            "age_seconds": int((now - r.created_at).total_seconds()),
            "created_at": r.created_at,
            "winning_rule": r.winning_rule,
            "reason": r.reason,
        }
        for r in rows
    ]
    return {
        "product": product,
        "auto_decisions_enabled": switch.auto_decisions_enabled,
        "auto_decisions_note": switch.note,
        "total": total,
        "items": items,
    }


@router.get("/reason-codes", response_model=ReasonCodesOut, summary="Reason codes an underwriter may give")
def get_reason_codes(product: str, principal: QueueReader, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        live = services.catalog.live(session, product)
    return {"product": product, "reason_codes": [dataclasses.asdict(o) for o in live.review.reasons]}


@router.get(
    CASE + "/reason-codes",
    response_model=ReasonCodesOut,
    summary="Reason codes, with a decline's pre-filled reasons",
    responses=ERRORS,
)
def get_case_reason_codes(
    product: str, case_id: str, principal: QueueReader, services: ServicesDep
) -> dict[str, Any]:
    with services.db.read() as session:
        live = services.catalog.live(session, product)
        case = cases_repository.case_row(session, product, case_id)
        auto = next((d for d in cases_repository.decisions_of(session, case.pk) if d.kind == "auto"), None)
    prefilled = live.review.reasons.model_reasons(auto.reasons or []) if auto is not None else []
    return {
        "product": product,
        "reason_codes": [dataclasses.asdict(o) for o in live.review.reasons],
        "prefilled_adverse_action": prefilled,
    }


@router.post(CASE + "/claim", response_model=ClaimOut, summary="Claim a case (a lease)", responses=ERRORS)
def claim(product: str, case_id: str, principal: Reviewer, services: ServicesDep) -> Any:
    """Take the case for `DR_LEASE_MINUTES`; claiming it again renews the lease. Two reviewers
    racing: exactly one wins, the other gets 409 naming the holder."""
    lease = dt.timedelta(minutes=services.settings.lease_minutes)
    with services.db.write() as session:
        return dataclasses.asdict(service.claim(session, product, case_id, actor=principal.name, lease=lease))


@router.post(CASE + "/release", response_model=StateOut, summary="Give a claimed case back", responses=ERRORS)
def release(product: str, case_id: str, principal: Reviewer, services: ServicesDep) -> dict[str, Any]:
    with services.db.write() as session:
        service.release(session, product, case_id, actor=principal.name)
    return {"case_id": case_id, "state": "released"}


@router.post(
    CASE + "/decision",
    response_model=ReviewOutcomeOut,
    summary="Approve or decline a claimed case",
    responses=ERRORS,
)
def decide(product: str, case_id: str, body: DecideIn, principal: Reviewer, services: ServicesDep) -> Any:
    """Needs your live claim. A decline carries adverse-action reasons (pre-filled from the model
    when omitted). With four-eyes the result is `pending_approval` until a second reviewer acts."""
    with services.db.write() as session:
        live = services.catalog.live(session, product)
        result = service.decide(
            session, live, case_id, actor=principal.name, outcome=body.outcome,
            reason_codes=body.reason_codes, note=body.note,
            adverse_action_reasons=body.adverse_action_reasons,
        )  # fmt: skip
    return dataclasses.asdict(result)


@router.post(
    CASE + "/escalation", response_model=StateOut, summary="Escalate a claimed case", responses=ERRORS
)
def escalate(
    product: str, case_id: str, body: EscalateIn, principal: Reviewer, services: ServicesDep
) -> dict[str, Any]:
    with services.db.write() as session:
        live = services.catalog.live(session, product)
        detail = service.escalate(
            session,
            live,
            case_id,
            actor=principal.name,
            reason_codes=body.reason_codes,
            note=body.note,
            queue=body.queue,
        )
    return {"case_id": case_id, "state": ReviewState.ESCALATED.value, "detail": detail}


@router.post(
    CASE + "/info-request", response_model=StateOut, summary="Ask for more information", responses=ERRORS
)
def request_info(
    product: str, case_id: str, body: InfoRequestIn, principal: Reviewer, services: ServicesDep
) -> dict[str, Any]:
    with services.db.write() as session:
        live = services.catalog.live(session, product)
        detail = service.request_info(
            session, live, case_id, actor=principal.name, reason_codes=body.reason_codes, note=body.note,
            requested=body.requested,
        )  # fmt: skip
    return {"case_id": case_id, "state": ReviewState.INFO_REQUESTED.value, "detail": detail}


@router.post(
    CASE + "/override",
    response_model=ReviewOutcomeOut,
    summary="Override an automatic decision",
    responses=ERRORS,
)
def override(product: str, case_id: str, body: OverrideIn, principal: Reviewer, services: ServicesDep) -> Any:
    """Within the policy's override window. With four-eyes: `pending_approval` until a second,
    different reviewer approves it (POST .../approval)."""
    with services.db.write() as session:
        live = services.catalog.live(session, product)
        result = service.override(
            session, live, case_id, actor=principal.name, outcome=body.outcome,
            reason_codes=body.reason_codes, note=body.note,
            adverse_action_reasons=body.adverse_action_reasons,
        )  # fmt: skip
    return dataclasses.asdict(result)


@router.post(
    CASE + "/approval",
    response_model=ReviewOutcomeOut,
    summary="Grant or refuse a decision waiting for a second reviewer",
    responses=ERRORS,
)
def approve(product: str, case_id: str, body: ApprovalIn, principal: Reviewer, services: ServicesDep) -> Any:
    with services.db.write() as session:
        live = services.catalog.live(session, product)
        result = service.resolve_approval(
            session, live, case_id, actor=principal.name, grant=body.grant, note=body.note
        )
    return dataclasses.asdict(result)
