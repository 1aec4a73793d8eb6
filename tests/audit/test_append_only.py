"""The database itself refuses to change or remove audit events, on both engines."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from decision_review.audit.log import append, verify
from tests.audit.tampering import sample_events


@pytest.fixture
def logged(engine, sessions):
    with sessions.begin() as session:
        return append(session, sample_events(5))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
        "UPDATE audit_events SET payload = '{}'",
        "DELETE FROM audit_events WHERE seq = 5",
        "DELETE FROM audit_events",
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET seq = 3",  # moving the head back (to hide a tail)
        "UPDATE audit_chain_head SET hash = 'x'",  # pointing it at something else
    ],
)
def test_sql_cannot_edit_or_remove_the_log(engine, logged, statement):
    with (
        pytest.raises(DBAPIError, match=r"append-only|cannot be deleted|only move forward"),
        engine.begin() as conn,
    ):
        conn.execute(text(statement))
    report = verify(engine)
    assert report.ok and report.count == 5


def test_the_refusal_lives_in_the_sqlite_file_itself(sqlite_url, sessions_on):
    """Any program opening the file meets the triggers, not only this package."""
    with sessions_on(sqlite_url).begin() as session:
        append(session, sample_events(3))
    connection = sqlite3.connect(make_url(sqlite_url).database)
    try:
        for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events WHERE seq = 1"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement)
    finally:
        connection.close()


def test_inserting_through_sql_cannot_rewind_the_head(engine, logged):
    """An event slipped in with SQL can only go after the head; the head cannot be moved to hide it
    unless it really is the last event with that hash (and then verify checks its hash)."""
    with pytest.raises(DBAPIError, match="only move forward"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_chain_head SET seq = 7"))
