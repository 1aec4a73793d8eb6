"""Review workflow and API: queue columns, four-eyes approvals, explanations, webhooks.

- `review_items` gains `product`, `winning_rule`, `reason` (the queue is listed and filtered from
  this table alone) and `held_state` (the open state a claimed item returns to);
- `decisions` gains `explanation` (SHAP contributions of every input, for explained decisions);
- `pending_approvals`: decisions waiting for a second reviewer (four-eyes);
- `published_policies` gains `product` (at most one live version per product: a partial unique
  index) and `note`; `product_controls` and `outcomes` gain a `note` (and outcomes a `description`);
- `webhooks` and `webhook_alerts`: alert receivers and the state of each alert condition.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Types frozen here (not imported from tables.py) so this migration never changes after release.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("product", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("held_state", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("winning_rule", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    op.execute(
        "UPDATE review_items SET product = (SELECT product FROM cases WHERE cases.id = review_items.case_pk)"
    )
    with op.batch_alter_table("review_items") as batch:
        batch.alter_column("product", existing_type=sa.String(length=64), nullable=False)
        batch.create_index(
            op.f("ix_review_items_product_state_priority_created_at"),
            ["product", "state", "priority", "created_at"],
        )

    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("explanation", JSON, nullable=True))

    op.create_table(
        "pending_approvals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_pk", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("decision_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["case_pk"], ["cases.id"], name=op.f("fk_pending_approvals_case_pk_cases")),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decisions.id"], name=op.f("fk_pending_approvals_decision_id_decisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_approvals")),
    )
    op.create_index(op.f("ix_pending_approvals_case_pk_state"), "pending_approvals", ["case_pk", "state"])

    with op.batch_alter_table("published_policies") as batch:
        batch.add_column(sa.Column("product", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.execute("UPDATE published_policies SET product = name")
    with op.batch_alter_table("published_policies") as batch:
        batch.alter_column("product", existing_type=sa.String(length=64), nullable=False)
    op.create_index(
        "uq_published_policies_live_product",
        "published_policies",
        ["product"],
        unique=True,
        sqlite_where=sa.text("live"),
        postgresql_where=sa.text("live"),
    )

    with op.batch_alter_table("product_controls") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(sa.Column("description", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))

    op.create_table(
        "webhooks",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("on_sla_breach", sa.Boolean(), nullable=False),
        sa.Column("depth_above", sa.Integer(), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_webhooks_name")),
    )
    op.create_table(
        "webhook_alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("webhook_id", ID, nullable=False),
        sa.Column("alert_key", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("since", UTC, nullable=False),
        sa.Column("last_sent_at", UTC, nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_alerts_webhook_id_webhooks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_alerts")),
        sa.UniqueConstraint("webhook_id", "alert_key", name=op.f("uq_webhook_alerts_webhook_id_alert_key")),
    )


def downgrade() -> None:
    op.drop_table("webhook_alerts")
    op.drop_table("webhooks")
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("note")
        batch.drop_column("description")
    with op.batch_alter_table("product_controls") as batch:
        batch.drop_column("note")
    op.drop_index("uq_published_policies_live_product", table_name="published_policies")
    with op.batch_alter_table("published_policies") as batch:
        batch.drop_column("note")
        batch.drop_column("product")
    op.drop_index(op.f("ix_pending_approvals_case_pk_state"), table_name="pending_approvals")
    op.drop_table("pending_approvals")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("explanation")
    with op.batch_alter_table("review_items") as batch:
        batch.drop_index(op.f("ix_review_items_product_state_priority_created_at"))
        batch.drop_column("reason")
        batch.drop_column("winning_rule")
        batch.drop_column("held_state")
        batch.drop_column("product")
