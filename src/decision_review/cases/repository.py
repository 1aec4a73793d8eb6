"""Queries for cases: what is stored for a batch of ids, the latest decision of each, one case whole.

Lookups go by `(product, case_id)` (unique, indexed) in chunks, a few statements per batch
whatever its size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from decision_review.errors import NotFound
from decision_review.store.tables import Case, Decision, ReviewItem

LOOKUP_CHUNK = 500

_cases = Case.__table__
_decisions = Decision.__table__
_items = ReviewItem.__table__


@dataclass(frozen=True, slots=True)
class StoredCase:
    pk: int
    case_id: str
    inputs: dict[str, Any]
    status: str
    received_at: dt.datetime


def stored_cases(session: Session, product: str, case_ids: Iterable[str]) -> dict[str, StoredCase]:
    """The stored cases among `case_ids` (case_id -> StoredCase)."""
    wanted = list(dict.fromkeys(case_ids))
    found: dict[str, StoredCase] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        query = select(
            _cases.c.id, _cases.c.case_id, _cases.c.inputs, _cases.c.status, _cases.c.received_at
        ).where(_cases.c.product == product, _cases.c.case_id.in_(chunk))
        for row in session.execute(query):
            found[row.case_id] = StoredCase(row.id, row.case_id, row.inputs, row.status, row.received_at)
    return found


def case_row(session: Session, product: str, case_id: str) -> StoredCase:
    row = session.execute(
        select(_cases.c.id, _cases.c.case_id, _cases.c.inputs, _cases.c.status, _cases.c.received_at).where(
            _cases.c.product == product, _cases.c.case_id == case_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no case {case_id!r} in product line {product!r}")
    return StoredCase(row.id, row.case_id, row.inputs, row.status, row.received_at)


def latest_decisions(session: Session, case_pks: Sequence[int]) -> dict[int, Any]:
    """The most recent decision row of each case (case_pk -> row)."""
    found: dict[int, Any] = {}
    for start in range(0, len(case_pks), LOOKUP_CHUNK):
        chunk = list(case_pks[start : start + LOOKUP_CHUNK])
        newest = (
            select(_decisions.c.case_pk, func.max(_decisions.c.id).label("id"))
            .where(_decisions.c.case_pk.in_(chunk))
            .group_by(_decisions.c.case_pk)
            .subquery()
        )
        for row in session.execute(select(_decisions).join(newest, newest.c.id == _decisions.c.id)):
            found[row.case_pk] = row
    return found


def review_items(session: Session, case_pks: Sequence[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for start in range(0, len(case_pks), LOOKUP_CHUNK):
        chunk = list(case_pks[start : start + LOOKUP_CHUNK])
        for row in session.execute(select(_items).where(_items.c.case_pk.in_(chunk))):
            found[row.case_pk] = row
    return found


def decisions_of(session: Session, case_pk: int) -> list[Any]:
    return list(
        session.execute(select(_decisions).where(_decisions.c.case_pk == case_pk).order_by(_decisions.c.id))
    )
