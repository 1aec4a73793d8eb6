"""Alembic migrations of the store, run by `decision_review.store.db.migrate` (no alembic.ini needed)."""
