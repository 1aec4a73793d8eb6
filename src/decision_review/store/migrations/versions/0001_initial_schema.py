"""Initial schema: cases, decisions, review items, users and tokens, outcomes, policies, controls,
and the append-only, hash-chained audit log with its chain head.

The append-only guarantee lives in the database itself: triggers refuse UPDATE and DELETE on
`audit_events` (and TRUNCATE on PostgreSQL), refuse deleting the chain head, and let the head
move only forward, to the event that was appended last.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types frozen here (not imported from tables.py) so this migration never changes after release.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = sa.DateTime(timezone=True)
GENESIS_HASH = "0" * 64

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE is refused'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE is refused'); END""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
       BEGIN SELECT RAISE(ABORT, 'audit_chain_head cannot be deleted'); END""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
       WHEN NEW.id IS NOT OLD.id OR NEW.seq < OLD.seq
         OR (NEW.seq > 0 AND (NEW.seq IS NOT (SELECT max(seq) FROM audit_events)
                              OR NEW.hash IS NOT (SELECT hash FROM audit_events WHERE seq = NEW.seq)))
       BEGIN SELECT RAISE(ABORT, 'audit_chain_head may only move forward to the last appended event'); END""",
]

POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION '% is append-only: % is refused', TG_TABLE_NAME, TG_OP;
       END $$""",
    """CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.id IS DISTINCT FROM OLD.id OR NEW.seq < OLD.seq
            OR (NEW.seq > 0 AND (NEW.seq IS DISTINCT FROM (SELECT max(seq) FROM audit_events)
                OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit_events WHERE seq = NEW.seq))) THEN
           RAISE EXCEPTION 'audit_chain_head may only move forward to the last appended event';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
       FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
       FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
       FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
       FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
       FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()""",
]


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("protected", JSON, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("product", "case_id", name=op.f("uq_cases_product_case_id")),
    )
    op.create_index(op.f("ix_cases_product_received_at"), "cases", ["product", "received_at"])

    op.create_table(
        "decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_pk", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("winning_rule", sa.String(length=200), nullable=True),
        sa.Column("rule_hits", JSON, nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("model_digest", sa.String(length=128), nullable=True),
        sa.Column("policy_name", sa.String(length=200), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("policy_digest", sa.String(length=128), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", UTC, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.id"], name=op.f("fk_decisions_case_pk_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_case_pk_decided_at"), "decisions", ["case_pk", "decided_at"])

    op.create_table(
        "review_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_pk", ID, nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTC, nullable=True),
        sa.Column("sla_due_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.id"], name=op.f("fk_review_items_case_pk_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("case_pk", name=op.f("uq_review_items_case_pk")),
    )
    op.create_index(
        op.f("ix_review_items_queue_state_priority"), "review_items", ["queue", "state", "priority"]
    )

    op.create_table(
        "users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("products", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])

    op.create_table(
        "outcomes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_pk", ID, nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.CheckConstraint("label IN (0, 1)", name=op.f("ck_outcomes_label_is_0_or_1")),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.id"], name=op.f("fk_outcomes_case_pk_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_case_pk"), "outcomes", ["case_pk"])

    op.create_table(
        "published_policies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", UTC, nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_policies")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_published_policies_name_version")),
    )
    op.create_table(
        "product_controls",
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("auto_decisions_enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("product", name=op.f("pk_product_controls")),
    )

    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("product", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Text(), nullable=True),
        sa.Column("policy_ref", sa.Text(), nullable=True),
        sa.Column("model_ref", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_ts"), "audit_events", ["ts"])
    op.create_index(op.f("ix_audit_events_product_case_id"), "audit_events", ["product", "case_id"])
    op.create_index(op.f("ix_audit_events_kind"), "audit_events", ["kind"])

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH, "ts": ""}])

    triggers = POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in [
            ("audit_events_no_update_delete", "audit_events"),
            ("audit_events_no_truncate", "audit_events"),
            ("audit_chain_head_no_delete", "audit_chain_head"),
            ("audit_chain_head_no_truncate", "audit_chain_head"),
            ("audit_chain_head_forward_only", "audit_chain_head"),
        ]:
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        op.execute("DROP FUNCTION audit_refuse_change()")
        op.execute("DROP FUNCTION audit_head_forward_only()")
    for table in [
        "audit_chain_head",
        "audit_events",
        "product_controls",
        "published_policies",
        "outcomes",
        "api_tokens",
        "users",
        "review_items",
        "decisions",
        "cases",
    ]:
        op.drop_table(table)
