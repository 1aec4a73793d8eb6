"""Queries of the review queue: listing with filters, and one item with its case.

An item's *effective* state is its stored state, except that a claim whose lease has run out counts
as the open state it was claimed from (`held_state`): an expired lease frees the case without any
process having to notice the expiry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from decision_review.store.tables import Case, ReviewItem, ReviewState

_items = ReviewItem.__table__
_cases = Case.__table__

OPEN_STATES = (ReviewState.QUEUED.value, ReviewState.ESCALATED.value, ReviewState.INFO_REQUESTED.value)


def effective_state(now: dt.datetime) -> Any:
    """SQL expression: the state, with an expired claim read as the state it was claimed from."""
    expired = and_(_items.c.state == ReviewState.CLAIMED.value, _items.c.lease_expires_at <= now)
    return case((expired, func.coalesce(_items.c.held_state, ReviewState.QUEUED.value)), else_=_items.c.state)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    queue: str | None = None
    states: tuple[str, ...] | None = None  # None: every state but decided
    max_priority: int | None = None
    older_than: dt.timedelta | None = None
    winning_rule: str | None = None
    claimed_by: str | None = None
    sla_breached: bool | None = None


def list_items(
    session: Session, product: str, filters: QueueFilter, *, now: dt.datetime, limit: int, offset: int
) -> tuple[list[Any], int]:
    """Items of a product line's queue, most urgent first (priority, then oldest); and their total."""
    state = effective_state(now).label("effective_state")
    conditions = [_items.c.product == product]
    if filters.queue is not None:
        conditions.append(_items.c.queue == filters.queue)
    if filters.states is not None:
        conditions.append(effective_state(now).in_(filters.states))
    else:
        conditions.append(_items.c.state != ReviewState.DECIDED.value)
    if filters.max_priority is not None:
        conditions.append(_items.c.priority <= filters.max_priority)
    if filters.older_than is not None:
        conditions.append(_items.c.created_at <= now - filters.older_than)
    if filters.winning_rule is not None:
        conditions.append(_items.c.winning_rule == filters.winning_rule)
    if filters.claimed_by is not None:
        conditions.append(
            and_(
                _items.c.state == ReviewState.CLAIMED.value,
                _items.c.claimed_by == filters.claimed_by,
                _items.c.lease_expires_at > now,
            )
        )
    if filters.sla_breached is not None:
        breached = and_(_items.c.sla_due_at.is_not(None), _items.c.sla_due_at < now)
        conditions.append(
            breached
            if filters.sla_breached
            else or_(_items.c.sla_due_at.is_(None), _items.c.sla_due_at >= now)
        )
    where = and_(*conditions)
    total = session.scalar(select(func.count()).select_from(_items).where(where)) or 0
    rows = session.execute(
        select(_items, state, _cases.c.case_id)
        .join(_cases, _cases.c.id == _items.c.case_pk)
        .where(where)
        .order_by(_items.c.priority, _items.c.created_at, _items.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return rows, total


def item_for_case(session: Session, product: str, case_id: str, now: dt.datetime) -> Any | None:
    """The review item of a case with its effective state, or None when the case never went to review."""
    return session.execute(
        select(_items, effective_state(now).label("effective_state"), _cases.c.case_id)
        .join(_cases, _cases.c.id == _items.c.case_pk)
        .where(_cases.c.product == product, _cases.c.case_id == case_id)
    ).one_or_none()
