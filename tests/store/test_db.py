"""Engines and sessions: the per-engine settings a user relies on without knowing it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from decision_review.errors import InvalidInput
from decision_review.settings import Settings
from decision_review.store.db import (
    make_engine,
    make_session_factory,
    migrate,
    normalise_url,
    resolve_url,
    snapshot,
)
from decision_review.store.tables import Case


def _case(case_id: str, when: dt.datetime | None = None) -> Case:
    when = when or dt.datetime.now(dt.UTC)
    return Case(product="p", case_id=case_id, received_at=when, inputs={}, protected={}, status="received")


def test_default_database_is_a_sqlite_file_under_home_created_on_first_use(tmp_path):
    settings = Settings(home=tmp_path / "fresh" / "var")
    assert resolve_url(settings=settings) == f"sqlite:///{tmp_path / 'fresh' / 'var' / 'decision-review.db'}"
    engine = make_engine(settings=settings)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    assert settings.sqlite_path.is_file()


def test_database_url_from_the_environment_selects_postgresql(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:secret@db.example:5432/decisions")
    assert resolve_url(settings=Settings()) == "postgresql+psycopg://app:secret@db.example:5432/decisions"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("url", "message"), [("mysql://u@h/db", "only SQLite"), ("::not a url::", "not a valid URL")]
)
def test_unsupported_or_malformed_urls_are_refused_clearly(url, message):
    with pytest.raises(InvalidInput, match=message):
        make_engine(url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_full_sync(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(session):
    from sqlalchemy.exc import IntegrityError

    from decision_review.store.tables import Decision

    now = dt.datetime.now(dt.UTC)
    decision = Decision(
        case_pk=999, kind="auto", outcome="approve", rule_hits=[], reasons=[], decided_by="system"
    )
    decision.decided_at = now
    session.add(decision)
    with pytest.raises(IntegrityError):
        session.flush()


def test_times_come_back_timezone_aware_utc_and_naive_ones_are_refused(sessions):
    when = dt.datetime(2024, 5, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with sessions.begin() as session:
        session.add(
            Case(product="p", case_id="c1", received_at=when, inputs={}, protected={}, status="received")
        )
    with sessions() as session:
        stored = session.query(Case).one().received_at
    assert stored == when and stored.tzinfo == dt.UTC
    with pytest.raises(Exception, match="naive datetime"), sessions.begin() as session:
        session.add(_case("c2", dt.datetime(2024, 5, 1)))


def test_a_snapshot_sees_one_state_and_does_not_block_writers(engine, sessions):
    """Verify and export read in a snapshot while the application keeps writing."""
    with sessions.begin() as session:
        session.add(_case("c1"))
    with snapshot(engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM cases")).scalar_one() == 1
        done = threading.Event()

        def write() -> None:
            with sessions.begin() as session:
                session.add(_case("c2"))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert done.wait(10), "a writer was blocked by a reader"
        writer.join()
        assert reader.execute(text("SELECT count(*) FROM cases")).scalar_one() == 1
    with make_session_factory(engine)() as session:
        assert session.execute(text("SELECT count(*) FROM cases")).scalar_one() == 2
