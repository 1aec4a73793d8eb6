"""Row counts of every table a request could write: to prove a refused request wrote nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from decision_review.store.tables import (
    ApiToken,
    AuditEvent,
    Case,
    Decision,
    OutcomeLabel,
    PendingApproval,
    ProductControl,
    PublishedPolicy,
    ReviewItem,
    User,
    Webhook,
)

TABLES = (Case, Decision, ReviewItem, PendingApproval, OutcomeLabel, PublishedPolicy, ProductControl,
          User, ApiToken, Webhook, AuditEvent)  # fmt: skip


def counts(services) -> dict[str, int]:
    with services.db.read() as session:
        return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES}


def review_states(services) -> list[tuple]:
    with services.db.read() as session:
        return list(session.execute(select(ReviewItem.case_pk, ReviewItem.state, ReviewItem.claimed_by)))
