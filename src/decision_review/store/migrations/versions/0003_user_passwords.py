"""Passwords for people: `users.password_hash` for signing in to the web pages.

An API token is a machine credential; a person signs in to the pages with their name and a
password. The column holds a salted scrypt hash with its parameters (see
`users.service.hash_password`); null means the user has no password and cannot sign in to the
pages (their tokens still work).

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_hash")
