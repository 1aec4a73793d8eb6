"""Alembic environment: migrate the connection `db.migrate` hands over (or the configured URL).

Why a connection is passed in: the caller decides which database and owns the transaction, so a
migration and anything the caller does next (tests, `db upgrade`) see one consistent database.
"""

from __future__ import annotations

from alembic import context

from decision_review.store.db import make_engine
from decision_review.store.tables import Base

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as owned:
            _run(owned)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `decision-review db upgrade`")
run_migrations()
