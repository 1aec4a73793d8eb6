"""An index on `audit_events(actor, seq)`: search the audit log by who acted.

A compliance officer asks "everything this underwriter did": the search's actor filter reads
that actor's events in chain order from this index instead of scanning the whole log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_seq", table_name="audit_events")
