"""The same migrations build the same schema on both engines, and the models agree with it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from decision_review.store.db import current_revision, downgrade, head_revision, make_engine, migrate
from decision_review.store.tables import Base

TABLES = {
    "cases", "decisions", "review_items", "users", "api_tokens", "outcomes", "published_policies",
    "product_controls", "audit_events", "audit_chain_head", "alembic_version", "pending_approvals",
    "webhooks", "webhook_alerts",
}  # fmt: skip


def test_a_fresh_database_migrates_to_head_and_again_is_a_no_op(database_url):
    assert current_revision(database_url) is None
    migrate(database_url)
    migrate(database_url)
    assert current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_the_models_match_the_migrated_schema(migrated_url):
    """No drift between tables.py and the migrations (what `alembic revision --autogenerate` sees)."""
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(migrated_url):
    downgrade(migrated_url, "base")
    engine = make_engine(migrated_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(migrated_url)
    assert current_revision(migrated_url) == head_revision()
