"""The review workflow: queue, claim (a lease), release, decide, escalate, request information,
override an automatic decision, and four-eyes approval.

Every function works in the caller's transaction and appends its audit event last; the caller
commits. Each state change is one conditional UPDATE whose WHERE clause states what must hold
(the item is open, or claimed by this reviewer with a lease that has not run out), and whose
row count says whether it did: two reviewers racing for the same case get exactly one winner, on
SQLite and on PostgreSQL alike, with no read-then-write window.

Why a lease and not a lock: a reviewer who goes home leaves a claim behind; the lease runs out
(`Settings.lease_minutes`) and the case is free again without anyone cleaning up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.decisions import decision_event
from decision_review.audit.log import NewEvent, append, append_one
from decision_review.cases import repository as cases_repository
from decision_review.errors import Conflict, InvalidInput, NotFound
from decision_review.review import repository
from decision_review.review.reasons import ReasonOption
from decision_review.schemas import Outcome
from decision_review.store.repository import NewDecision, VersionRef, insert_decisions, utc_now
from decision_review.store.tables import (
    ApprovalState,
    Case,
    CaseStatus,
    DecisionKind,
    PendingApproval,
    ReviewItem,
    ReviewState,
)

if TYPE_CHECKING:
    from decision_review.products.service import LiveProduct

_items = ReviewItem.__table__
_cases = Case.__table__
_pending = PendingApproval.__table__

MAX_NOTE = 4000
MAX_REQUESTED = 20  # items of one information request, each at most MAX_REQUESTED_LENGTH characters
MAX_REQUESTED_LENGTH = 500
Verdict = Literal["approve", "decline"]


@dataclass(frozen=True, slots=True)
class Claim:
    case_id: str
    claimed_by: str
    lease_expires_at: dt.datetime
    renewed: bool


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """What a decide, override or approval did: applied now, or waiting for a second reviewer."""

    case_id: str
    status: Literal["decided", "overridden", "pending_approval", "refused"]
    outcome: str
    decision_id: int | None
    approval_id: int | None
    reasons: list[dict[str, Any]]
    why_four_eyes: str | None = None


# ---------------------------------------------------------------------------------------------
# Helpers


def _note(note: str | None, what: str) -> str:
    text = (note or "").strip()
    if not text:
        raise InvalidInput(f"{what}: a note is required (say what you checked and why)")
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"{what}: the note is longer than {MAX_NOTE} characters")
    return text


def _case(session: Session, product: str, case_id: str, *, lock: bool = False) -> Any:
    query = select(_cases).where(_cases.c.product == product, _cases.c.case_id == case_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"no case {case_id!r} in product line {product!r}")
    return row


def _why_not_held(
    session: Session, product: str, case_id: str, actor: str, now: dt.datetime, verb: str
) -> str:
    """Why `actor` cannot `verb` the case (which needs their live claim): the Conflict's message."""
    item = repository.item_for_case(session, product, case_id, now)
    if item is None:
        _case(session, product, case_id)  # NotFound for an unknown case
        return f"case {case_id!r} is not in review (it was decided automatically); override it instead"
    state = item.effective_state
    if state == ReviewState.DECIDED:
        return f"case {case_id!r} has already been decided; there is nothing left to {verb}"
    if state == ReviewState.PENDING_APPROVAL:
        return f"case {case_id!r} has a decision waiting for a second reviewer's approval"
    if state == ReviewState.CLAIMED and item.claimed_by != actor:
        return (
            f"case {case_id!r} is claimed by {item.claimed_by} until "
            f"{item.lease_expires_at:%Y-%m-%dT%H:%M:%SZ}; wait for them to release it or for the lease to end"
        )
    if item.state == ReviewState.CLAIMED and item.claimed_by == actor:
        ran_out = f"{item.lease_expires_at:%Y-%m-%dT%H:%M:%SZ}"
        return f"your claim on case {case_id!r} ran out at {ran_out}; claim it again"
    return f"you have not claimed case {case_id!r}; claim it before you {verb} it"


def _holder_condition(actor: str, now: dt.datetime) -> Any:
    return and_(
        _items.c.state == ReviewState.CLAIMED.value,
        _items.c.claimed_by == actor,
        _items.c.lease_expires_at > now,
    )


def _let_go(
    session: Session, product: str, case: Any, actor: str, now: dt.datetime, verb: str, **values: Any
) -> None:
    """End `actor`'s claim on `case`'s review item and set `values` on it, or raise Conflict saying
    why not (not claimed, claimed by someone else, lease expired) when `actor` does not hold it."""
    moved = session.execute(
        update(_items)
        .where(_items.c.case_pk == case.id, _holder_condition(actor, now))
        .values(claimed_by=None, lease_expires_at=None, updated_at=now, **values)
    )
    if moved.rowcount != 1:
        raise Conflict(_why_not_held(session, product, case.case_id, actor, now, verb))


def _reasons(live: LiveProduct, codes: Sequence[str], what: str) -> list[ReasonOption]:
    if not codes:
        raise InvalidInput(f"{what}: give at least one reason code (GET .../reason-codes lists them)")
    return live.review.reasons.resolve(codes, what=what)


def _adverse_action(
    live: LiveProduct,
    codes: Sequence[str] | None,
    auto_reasons: Sequence[dict[str, Any]],
    chosen: Sequence[ReasonOption],
    what: str,
) -> list[dict[str, Any]]:
    """A decline's adverse-action reasons: those given; or, when none are given, the model's
    reasons that pushed this case towards the bad outcome plus the chosen reason codes that may be
    quoted as adverse-action reasons."""
    catalog = live.review.reasons
    if codes is None:
        prefilled = catalog.model_reasons(auto_reasons)
        prefilled += [o.stored() for o in chosen if o.adverse_action and o.source != "model"]
        if not prefilled:
            raise InvalidInput(
                f"{what}: a decline must carry at least one adverse-action reason, and neither the model nor "
                "the reason codes given supply one; choose them (adverse_action_reasons)"
            )
        return [{**r, "use": "adverse_action"} for r in prefilled]
    options = catalog.resolve(codes, what=what)
    not_adverse = [o.code for o in options if not o.adverse_action]
    if not_adverse:
        raise InvalidInput(
            f"{what}: {', '.join(not_adverse)} cannot be quoted as adverse-action reasons; use model reason "
            "codes or policy codes marked adverse_action"
        )
    if not options:
        raise InvalidInput(f"{what}: a decline must carry at least one adverse-action reason")
    contributions = {r.get("code"): r.get("contribution") for r in auto_reasons}
    return [{**o.stored(contributions.get(o.code)), "use": "adverse_action"} for o in options]


def _stored_reasons(options: Sequence[ReasonOption]) -> list[dict[str, Any]]:
    return [{**o.stored(), "use": "decision"} for o in options]


def _amount_rule(live: LiveProduct, inputs: dict[str, Any]) -> str | None:
    """Why the amount rule of four-eyes applies to this case, or None."""
    rule = live.review.four_eyes
    if rule.amount_field is None or rule.amount_above is None:
        return None
    value = inputs.get(rule.amount_field)
    if value is None or isinstance(value, bool):
        return None
    try:
        above = Decimal(str(value)) > Decimal(str(rule.amount_above))
    except InvalidOperation:
        return None
    if above:
        return f"{rule.amount_field} {value} is above the four-eyes limit of {rule.amount_above}"
    return None


def _auto_decision(session: Session, case_pk: int) -> Any:
    rows = cases_repository.decisions_of(session, case_pk)
    auto = [r for r in rows if r.kind == DecisionKind.AUTO]
    return auto[-1] if auto else None


def _version(row: Any, prefix: str) -> VersionRef | None:
    name = getattr(row, f"{prefix}_name")
    if name is None:
        return None
    return VersionRef(name, getattr(row, f"{prefix}_version"), getattr(row, f"{prefix}_digest"))


# ---------------------------------------------------------------------------------------------
# Claim and release


def claim(
    session: Session,
    product: str,
    case_id: str,
    *,
    actor: str,
    lease: dt.timedelta,
    now: dt.datetime | None = None,
) -> Claim:
    """Claim a case for `lease` (renewing it if the actor already holds it). Exactly one of two
    reviewers racing for a case wins; the other gets a Conflict naming the holder."""
    now = now or utc_now()
    case = _case(session, product, case_id)
    before = repository.item_for_case(session, product, case_id, now)
    expires = now + lease
    claimable = or_(
        _items.c.state.in_(repository.OPEN_STATES),
        and_(
            _items.c.state == ReviewState.CLAIMED.value,
            or_(_items.c.lease_expires_at <= now, _items.c.claimed_by == actor),
        ),
    )
    moved = session.execute(
        update(_items)
        .where(_items.c.case_pk == case.id, claimable)
        .values(
            held_state=_held_state_expr(),
            state=ReviewState.CLAIMED.value,
            claimed_by=actor,
            lease_expires_at=expires,
            updated_at=now,
        )
    )
    if moved.rowcount != 1:
        raise Conflict(_why_not_claimable(session, product, case_id, actor, now))
    renewed = before is not None and before.state == ReviewState.CLAIMED and before.claimed_by == actor
    previous = (
        before.claimed_by
        if before is not None and before.state == ReviewState.CLAIMED and before.claimed_by != actor
        else None
    )
    append_one(
        session,
        NewEvent(
            EventKind.REVIEW_CLAIMED,
            actor=actor,
            product=product,
            case_id=case_id,
            payload={
                "queue": before.queue if before is not None else None,
                "lease_expires_at": expires,
                "renewed": renewed,
                "expired_claim_of": previous,
            },
        ),
    )
    return Claim(case_id, actor, expires, renewed)


def _held_state_expr() -> Any:
    """On claim: remember the open state it was claimed from (a renewal keeps the one it had)."""
    from sqlalchemy import case as sql_case

    return sql_case(
        (_items.c.state == ReviewState.CLAIMED.value, _items.c.held_state),
        else_=_items.c.state,
    )


def _why_not_claimable(session: Session, product: str, case_id: str, actor: str, now: dt.datetime) -> str:
    item = repository.item_for_case(session, product, case_id, now)
    if item is None:
        return f"case {case_id!r} is not in review (it was decided automatically); there is nothing to claim"
    if item.effective_state == ReviewState.DECIDED:
        return f"case {case_id!r} has already been decided"
    if item.effective_state == ReviewState.PENDING_APPROVAL:
        return f"case {case_id!r} has a decision waiting for a second reviewer's approval"
    return (
        f"case {case_id!r} is claimed by {item.claimed_by} until "
        f"{item.lease_expires_at:%Y-%m-%dT%H:%M:%SZ}; it is free again when they release it or the lease ends"
    )


def release(
    session: Session, product: str, case_id: str, *, actor: str, now: dt.datetime | None = None
) -> None:
    """Give a claimed case back to its queue (only its holder can, while the lease lasts)."""
    now = now or utc_now()
    case = _case(session, product, case_id)
    _let_go(session, product, case, actor, now, "release", state=_items.c.held_state, held_state=None)
    append_one(
        session,
        NewEvent(EventKind.REVIEW_RELEASED, actor=actor, product=product, case_id=case_id, payload={}),
    )


# ---------------------------------------------------------------------------------------------
# Decide, escalate, request information


def decide(
    session: Session,
    live: LiveProduct,
    case_id: str,
    *,
    actor: str,
    outcome: Verdict,
    reason_codes: Sequence[str],
    note: str,
    adverse_action_reasons: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> ReviewOutcome:
    """Approve or decline a claimed case, with reason codes and a note.

    A decline carries adverse-action reasons: the ones given, or (when none are given) the model's
    reasons that pushed this case's score towards the bad outcome. When four-eyes applies (the
    amount rule of the policy), the decision waits for a second reviewer (`resolve_approval`).
    """
    now = now or utc_now()
    what = f"deciding case {case_id!r}"
    if outcome not in (Outcome.APPROVE, Outcome.DECLINE):
        raise InvalidInput(f"{what}: outcome must be approve or decline, not {outcome!r}")
    text = _note(note, what)
    options = _reasons(live, reason_codes, what)
    case = _case(session, live.product, case_id)
    auto = _auto_decision(session, case.id)
    reasons = _stored_reasons(options)
    if outcome == Outcome.DECLINE:
        reasons += _adverse_action(live, adverse_action_reasons, auto.reasons if auto else [], options, what)
    elif adverse_action_reasons:
        raise InvalidInput(f"{what}: adverse-action reasons belong to a decline, not an approval")
    four_eyes = _amount_rule(live, case.inputs)
    new_state = ReviewState.PENDING_APPROVAL if four_eyes else ReviewState.DECIDED
    _let_go(session, live.product, case, actor, now, "decide", state=new_state.value)
    if four_eyes:
        approval_id = _request_approval(
            session, live.product, case, DecisionKind.REVIEW, outcome, reasons, text, four_eyes, actor, now
        )
        return ReviewOutcome(case_id, "pending_approval", outcome, None, approval_id, reasons, four_eyes)
    decision_id = _apply_review(session, live.product, case, auto, outcome, reasons, text, actor, None, now)
    return ReviewOutcome(case_id, "decided", outcome, decision_id, None, reasons)


def _apply_review(
    session: Session,
    product: str,
    case: Any,
    auto: Any,
    outcome: str,
    reasons: list[dict[str, Any]],
    note: str,
    decided_by: str,
    approved_by: str | None,
    now: dt.datetime,
) -> int:
    decision = NewDecision(
        outcome=outcome,
        kind=DecisionKind.REVIEW,
        score=auto.score if auto is not None else None,
        winning_rule=auto.winning_rule if auto is not None else None,
        rule_hits=list(auto.rule_hits or []) if auto is not None else [],
        reasons=reasons,
        model=_version(auto, "model") if auto is not None else None,
        policy=_version(auto, "policy") if auto is not None else None,
        decided_by=decided_by,
        note=note,
    )
    [decision_id] = insert_decisions(session, [case.id], [decision], at=now)
    session.execute(update(_cases).where(_cases.c.id == case.id).values(status=CaseStatus.DECIDED.value))
    session.execute(
        update(_items)
        .where(_items.c.case_pk == case.id)
        .values(
            state=ReviewState.DECIDED.value,
            claimed_by=None,
            lease_expires_at=None,
            held_state=None,
            updated_at=now,
        )
    )
    append_one(
        session,
        decision_event(
            EventKind.REVIEW_DECIDED,
            decision,
            actor=approved_by or decided_by,
            product=product,
            case_id=case.case_id,
            payload={
                "decision_id": decision_id,
                "outcome": outcome,
                "decided_by": decided_by,
                "approved_by": approved_by,
                "reasons": reasons,
                "note": note,
                "auto_outcome": auto.outcome if auto is not None else None,
            },
        ),
    )
    return decision_id


def escalate(
    session: Session,
    live: LiveProduct,
    case_id: str,
    *,
    actor: str,
    reason_codes: Sequence[str],
    note: str,
    queue: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Send a claimed case up (to another queue, or the same one) with a higher priority.

    The case stays in review, unclaimed, in state `escalated`; its service-level deadline becomes
    the earlier of the old one and the new queue's.
    """
    now = now or utc_now()
    what = f"escalating case {case_id!r}"
    text = _note(note, what)
    options = _reasons(live, reason_codes, what)
    queues = live.engine.policy.spec.queues
    if queue is not None and queue not in queues:
        raise InvalidInput(f"{what}: queue {queue!r} does not exist; queues: {', '.join(queues)}")
    case = _case(session, live.product, case_id)
    item = repository.item_for_case(session, live.product, case_id, now)
    if item is None:
        raise Conflict(_why_not_held(session, live.product, case_id, actor, now, "escalate"))
    target = queue or item.queue
    due = now + queues[target].sla if target in queues else item.sla_due_at
    if item.sla_due_at is not None and due is not None:
        due = min(due, item.sla_due_at)
    priority = max(1, item.priority - 1)
    _let_go(
        session, live.product, case, actor, now, "escalate",
        state=ReviewState.ESCALATED.value, held_state=None, queue=target, priority=priority, sla_due_at=due,
    )  # fmt: skip
    payload = {
        "from_queue": item.queue,
        "to_queue": target,
        "priority": priority,
        "sla_due_at": due,
        "reasons": _stored_reasons(options),
        "note": text,
    }
    append_one(
        session,
        NewEvent(
            EventKind.REVIEW_ESCALATED,
            actor=actor,
            product=live.product,
            case_id=case_id,
            payload=payload,
        ),
    )
    return payload


def request_info(
    session: Session,
    live: LiveProduct,
    case_id: str,
    *,
    actor: str,
    reason_codes: Sequence[str],
    note: str,
    requested: Sequence[str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Ask for more information; the case stays in review, unclaimed, in state `info_requested`."""
    now = now or utc_now()
    what = f"requesting information on case {case_id!r}"
    text = _note(note, what)
    options = _reasons(live, reason_codes, what)
    items = [r.strip() for r in requested if r and r.strip()]
    if not items:
        raise InvalidInput(f"{what}: say what information is requested (requested: [...])")
    if len(items) > MAX_REQUESTED:
        raise InvalidInput(f"{what}: ask for at most {MAX_REQUESTED} items at once, not {len(items)}")
    long = next((i for i, item in enumerate(items, start=1) if len(item) > MAX_REQUESTED_LENGTH), None)
    if long is not None:
        raise InvalidInput(f"{what}: requested item {long} is longer than {MAX_REQUESTED_LENGTH} characters")
    case = _case(session, live.product, case_id)
    _let_go(
        session, live.product, case, actor, now, "request information on",
        state=ReviewState.INFO_REQUESTED.value, held_state=None,
    )  # fmt: skip
    payload = {"requested": items, "reasons": _stored_reasons(options), "note": text}
    append_one(
        session,
        NewEvent(
            EventKind.INFO_REQUESTED, actor=actor, product=live.product, case_id=case_id, payload=payload
        ),
    )
    return payload


# ---------------------------------------------------------------------------------------------
# Override and four-eyes


def override(
    session: Session,
    live: LiveProduct,
    case_id: str,
    *,
    actor: str,
    outcome: Verdict,
    reason_codes: Sequence[str],
    note: str,
    adverse_action_reasons: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> ReviewOutcome:
    """Reverse an automatic approve or decline within the product's override window.

    With four-eyes (the policy's `overrides_of`, or the amount rule) the override is recorded as
    pending and takes effect only when a second, different reviewer grants it.
    """
    now = now or utc_now()
    what = f"overriding case {case_id!r}"
    if outcome not in (Outcome.APPROVE, Outcome.DECLINE):
        raise InvalidInput(f"{what}: outcome must be approve or decline, not {outcome!r}")
    text = _note(note, what)
    options = _reasons(live, reason_codes, what)
    case = _case(session, live.product, case_id, lock=True)
    decisions = cases_repository.decisions_of(session, case.id)
    current = decisions[-1] if decisions else None
    if (
        current is None
        or current.kind != DecisionKind.AUTO
        or current.outcome not in (Outcome.APPROVE, Outcome.DECLINE)
    ):
        state = (
            "in review: claim and decide it"
            if current is not None and current.outcome == Outcome.REVIEW
            else (
                f"already decided by {current.decided_by} ({current.kind})"
                if current is not None
                else "not decided"
            )
        )
        raise Conflict(f"{what}: only an automatic approve or decline can be overridden; the case is {state}")
    if current.outcome == outcome:
        raise Conflict(f"{what}: the case is already {outcome}d; an override must change the outcome")
    window = live.review.override_window
    if window <= dt.timedelta(0):
        raise Conflict(f"{what}: the policy of product line {live.product!r} allows no overrides")
    if now - current.decided_at > window:
        raise Conflict(
            f"{what}: the override window of {window.total_seconds() / 3600:g} hours after the automatic "
            f"decision ({current.decided_at:%Y-%m-%dT%H:%M:%SZ}) has passed"
        )
    if _pending_for(session, case.id) is not None:
        raise Conflict(f"{what}: an override of this case is already waiting for a second reviewer")
    reasons = _stored_reasons(options)
    if outcome == Outcome.DECLINE:
        reasons += _adverse_action(live, adverse_action_reasons, current.reasons or [], options, what)
    elif adverse_action_reasons:
        raise InvalidInput(f"{what}: adverse-action reasons belong to a decline, not an approval")
    four_eyes = None
    if current.outcome in live.review.four_eyes.overrides_of:
        four_eyes = f"the policy requires a second reviewer for overrides of automatic {current.outcome}s"
    four_eyes = four_eyes or _amount_rule(live, case.inputs)
    if four_eyes:
        approval_id = _request_approval(
            session, live.product, case, DecisionKind.OVERRIDE, outcome, reasons, text, four_eyes, actor, now
        )
        return ReviewOutcome(case_id, "pending_approval", outcome, None, approval_id, reasons, four_eyes)
    decision_id = _apply_override(
        session, live.product, case, current, outcome, reasons, text, actor, None, now
    )
    return ReviewOutcome(case_id, "overridden", outcome, decision_id, None, reasons)


def _apply_override(
    session: Session,
    product: str,
    case: Any,
    current: Any,
    outcome: str,
    reasons: list[dict[str, Any]],
    note: str,
    decided_by: str,
    approved_by: str | None,
    now: dt.datetime,
) -> int:
    decision = NewDecision(
        outcome=outcome,
        kind=DecisionKind.OVERRIDE,
        score=current.score,
        winning_rule=current.winning_rule,
        rule_hits=list(current.rule_hits or []),
        reasons=reasons,
        model=_version(current, "model"),
        policy=_version(current, "policy"),
        decided_by=decided_by,
        note=note,
    )
    [decision_id] = insert_decisions(session, [case.id], [decision], at=now)
    append_one(
        session,
        decision_event(
            EventKind.OVERRIDE,
            decision,
            actor=approved_by or decided_by,
            product=product,
            case_id=case.case_id,
            payload={
                "decision_id": decision_id,
                "from_outcome": current.outcome,
                "to_outcome": outcome,
                "overridden_decision_id": current.id,
                "decided_by": decided_by,
                "approved_by": approved_by,
                "reasons": reasons,
                "note": note,
            },
        ),
    )
    return decision_id


def _pending_for(session: Session, case_pk: int) -> Any | None:
    return session.execute(
        select(_pending).where(_pending.c.case_pk == case_pk, _pending.c.state == ApprovalState.PENDING.value)
    ).one_or_none()


def _request_approval(
    session: Session,
    product: str,
    case: Any,
    kind: DecisionKind,
    outcome: str,
    reasons: list[dict[str, Any]],
    note: str,
    why: str,
    actor: str,
    now: dt.datetime,
) -> int:
    approval_id = session.execute(
        insert(_pending).returning(_pending.c.id),
        {
            "case_pk": case.id,
            "kind": kind.value,
            "outcome": outcome,
            "reasons": reasons,
            "note": note,
            "why": why,
            "requested_by": actor,
            "requested_at": now,
            "state": ApprovalState.PENDING.value,
        },
    ).scalar_one()
    append_one(
        session,
        NewEvent(
            EventKind.APPROVAL_REQUESTED,
            actor=actor,
            product=product,
            case_id=case.case_id,
            payload={
                "approval_id": approval_id,
                "kind": kind.value,
                "outcome": outcome,
                "reasons": reasons,
                "note": note,
                "why": why,
            },
        ),
    )
    return approval_id


def resolve_approval(
    session: Session,
    live: LiveProduct,
    case_id: str,
    *,
    actor: str,
    grant: bool,
    note: str,
    now: dt.datetime | None = None,
) -> ReviewOutcome:
    """A second reviewer grants or refuses the decision waiting on a case (four-eyes).

    The second reviewer must be someone other than the one who made the decision. Granted: the
    decision takes effect (recorded as made by the first reviewer, approved by the second).
    Refused: nothing changes; a review decision's case goes back to its queue.
    """
    now = now or utc_now()
    what = f"{'approving' if grant else 'refusing'} the decision waiting on case {case_id!r}"
    text = _note(note, what)
    case = _case(session, live.product, case_id, lock=True)
    pending = _pending_for(session, case.id)
    if pending is None:
        raise Conflict(f"{what}: no decision on this case is waiting for approval")
    if pending.requested_by == actor:
        raise Conflict(
            f"{what}: four-eyes needs a second, different reviewer; {actor} made this decision "
            "and cannot approve it"
        )
    resolved = session.execute(
        update(_pending)
        .where(_pending.c.id == pending.id, _pending.c.state == ApprovalState.PENDING.value)
        .values(
            state=(ApprovalState.GRANTED if grant else ApprovalState.REFUSED).value,
            resolved_by=actor,
            resolved_at=now,
            resolution_note=text,
        )
    )
    if resolved.rowcount != 1:  # pragma: no cover - the case row lock serialises resolutions
        raise Conflict(f"{what}: it was resolved by someone else a moment ago")
    kind = EventKind.APPROVAL_GRANTED if grant else EventKind.APPROVAL_REFUSED
    events = [
        NewEvent(
            kind,
            actor=actor,
            product=live.product,
            case_id=case_id,
            payload={
                "approval_id": pending.id,
                "kind": pending.kind,
                "outcome": pending.outcome,
                "requested_by": pending.requested_by,
                "note": text,
            },
        )
    ]
    if not grant:
        if pending.kind == DecisionKind.REVIEW:
            session.execute(
                update(_items)
                .where(_items.c.case_pk == case.id, _items.c.state == ReviewState.PENDING_APPROVAL.value)
                .values(state=ReviewState.QUEUED.value, updated_at=now)
            )
        append(session, events)
        return ReviewOutcome(case_id, "refused", pending.outcome, None, pending.id, list(pending.reasons))
    append(session, events)  # the grant first, then the decision it lets take effect
    decisions = cases_repository.decisions_of(session, case.id)
    auto = next((d for d in reversed(decisions) if d.kind == DecisionKind.AUTO), None)
    if pending.kind == DecisionKind.REVIEW:
        decision_id = _apply_review(
            session, live.product, case, auto, pending.outcome, list(pending.reasons), pending.note,
            pending.requested_by, actor, now,
        )  # fmt: skip
        status: Literal["decided", "overridden"] = "decided"
    else:
        decision_id = _apply_override(
            session, live.product, case, decisions[-1], pending.outcome, list(pending.reasons), pending.note,
            pending.requested_by, actor, now,
        )  # fmt: skip
        status = "overridden"
    session.execute(update(_pending).where(_pending.c.id == pending.id).values(decision_id=decision_id))
    return ReviewOutcome(case_id, status, pending.outcome, decision_id, pending.id, list(pending.reasons))
