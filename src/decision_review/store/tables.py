"""The database schema as SQLAlchemy 2 typed models; Alembic migrations create exactly this.

Why these shapes:
- a case keeps its inputs as submitted (JSON) and its protected attributes in a separate column,
  so nothing that reads model inputs can pick them up by accident;
- a decision carries everything needed to explain it later (score, rule hits, reasons, and the
  name, version and digest of the model and policy that produced it);
- the audit log is two tables: `audit_events` (append-only, hash-chained; triggers refuse UPDATE
  and DELETE) and `audit_chain_head` (one row that writers lock to serialise appends);
- times are timezone-aware UTC everywhere (`UTCDateTime`), except the audit event's `ts`, which is
  the exact UTC ISO-8601 text that was hashed.

Foreign keys to `cases.id` are called `case_pk` so they cannot be confused with `cases.case_id`,
the caller's own id for the case.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Names for constraints and indexes, so migrations on SQLite and PostgreSQL agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A big integer key that is still SQLite's auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")
MAX_BIGINT = 2**63 - 1  # the largest id or sequence number these columns hold (both engines)
# JSON everywhere, stored as JSONB on PostgreSQL (indexable, compact).
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on both engines (SQLite would drop the offset otherwise).

    Naive datetimes are refused: a time without a zone is a bug waiting for a daylight-saving day.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone-aware UTC time")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class CaseStatus(StrEnum):
    RECEIVED = "received"
    DECIDED = "decided"
    IN_REVIEW = "in_review"
    ERROR = "error"


class DecisionKind(StrEnum):
    AUTO = "auto"
    REVIEW = "review"
    OVERRIDE = "override"


class ReviewState(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    DECIDED = "decided"
    ESCALATED = "escalated"
    INFO_REQUESTED = "info_requested"
    PENDING_APPROVAL = "pending_approval"


class ApprovalState(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: Json, list[Any]: Json}  # noqa: RUF012


class Case(Base):
    """One case as submitted: inputs for the model and policy, protected attributes kept apart."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("product", "case_id"),
        Index(None, "product", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime]
    inputs: Mapped[dict[str, Any]]
    protected: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(32))


class Decision(Base):
    """A decision on a case (auto, by review, or an override), with all it was based on."""

    __tablename__ = "decisions"
    __table_args__ = (Index(None, "case_pk", "decided_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_pk: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    winning_rule: Mapped[str | None] = mapped_column(String(200))
    rule_hits: Mapped[list[Any]]
    reasons: Mapped[list[Any]]
    model_name: Mapped[str | None] = mapped_column(String(200))
    model_version: Mapped[str | None] = mapped_column(String(64))
    model_digest: Mapped[str | None] = mapped_column(String(128))
    policy_name: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    policy_digest: Mapped[str | None] = mapped_column(String(128))
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime]
    note: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # SHAP contributions of every model input (calibrated log-odds) and the base value, for explained
    # decisions: {"base_value": b, "reference": r, "contributions": {field: value}}.
    explanation: Mapped[dict[str, Any] | None]


class ReviewItem(Base):
    """A case waiting for (or being worked by) a human, with its lease and service-level deadline.

    `product`, `winning_rule` and `reason` repeat the case's and its routing decision's, so the queue
    is listed and filtered from this table alone. `held_state` is the open state (queued, escalated,
    info_requested) a claimed item returns to when released or when its lease runs out.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        Index(None, "queue", "state", "priority"),
        Index(None, "product", "state", "priority", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_pk: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), unique=True)
    product: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    held_state: Mapped[str | None] = mapped_column(String(32))
    winning_rule: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[dt.datetime | None]
    sla_due_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class PendingApproval(Base):
    """A human decision (a review decision or an override) waiting for a second, different reviewer.

    Four-eyes: the policy says which decisions need one; the decision takes effect only when another
    underwriter grants it. A refused one changes nothing and the case goes back to its queue.
    """

    __tablename__ = "pending_approvals"
    __table_args__ = (Index(None, "case_pk", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_pk: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]]
    note: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(16))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[dt.datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    decision_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("decisions.id"))


class User(Base):
    """A person (or service account) with one role, limited to some product lines (empty = all)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    products: Mapped[list[Any]]
    created_at: Mapped[dt.datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Salted scrypt hash for signing in to the web pages (users.service.hash_password); null: no password.
    password_hash: Mapped[str | None] = mapped_column(String(300))


class ApiToken(Base):
    """A bearer token, stored only as its sha256 hash; `prefix` lets a person recognise it."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class OutcomeLabel(Base):
    """What actually happened to a case (1 = the bad outcome), fed back for retraining and monitoring."""

    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint("label IN (0, 1)", name="label_is_0_or_1"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_pk: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime]
    description: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class PublishedPolicy(Base):
    """A policy version as published (its YAML text and digest); `live` marks the one in force.

    At most one version per product line is live (a partial unique index on both engines).
    """

    __tablename__ = "published_policies"
    __table_args__ = (
        UniqueConstraint("name", "version"),
        Index(
            "uq_published_policies_live_product",
            "product",
            unique=True,
            sqlite_where=text("live"),
            postgresql_where=text("live"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(128))
    yaml_text: Mapped[str] = mapped_column(Text)
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[dt.datetime]
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)


class ProductControl(Base):
    """The switch that stops auto-decisions for a product line (everything goes to review)."""

    __tablename__ = "product_controls"

    product: Mapped[str] = mapped_column(String(64), primary_key=True)
    auto_decisions_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime]
    note: Mapped[str | None] = mapped_column(Text)


class Webhook(Base):
    """A URL told about alert conditions: a queue's SLA breached, or its depth above a limit.

    `product` and `queue` narrow what it watches (null: every one). `secret` signs each delivery
    (HMAC-SHA256 of the body in the X-DR-Signature header) so the receiver can trust it.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    on_sla_breach: Mapped[bool] = mapped_column(Boolean)
    depth_above: Mapped[int | None] = mapped_column(Integer)
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]


class WebhookAlert(Base):
    """One alert condition as a webhook last saw it: whether it holds, and when it was last sent.

    The row is the lock that makes exactly one API worker send an alert: a worker sends only after
    its conditional update of `last_sent_at` changed this row.
    """

    __tablename__ = "webhook_alerts"
    __table_args__ = (UniqueConstraint("webhook_id", "alert_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhooks.id"))
    alert_key: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean)
    since: Mapped[dt.datetime]
    last_sent_at: Mapped[dt.datetime | None]
    sends: Mapped[int] = mapped_column(Integer)


class AuditEvent(Base):
    """One event of the hash-chained, append-only audit log (see decision_review.audit.chain).

    `ts` and `payload` are kept as the exact text that was hashed (UTC ISO-8601 with microseconds,
    canonical JSON), so reading them back can never change a byte of what the hash covers.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "ts"),
        Index(None, "product", "case_id"),
        Index(None, "kind"),
        Index(None, "actor", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[str | None] = mapped_column(Text)
    policy_ref: Mapped[str | None] = mapped_column(Text)
    model_ref: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last appended event (seq, hash, ts): the row every writer locks before appending."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[str] = mapped_column(String(32))
