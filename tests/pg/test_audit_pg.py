"""PostgreSQL-specific guarantees of the audit log (runs against a real server; in CI it must run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from decision_review.audit.chain import COLUMNS
from decision_review.audit.log import append, verify
from decision_review.store.db import make_engine, make_session_factory
from tests.audit.tampering import EDITS, apply_edit, query, sample_events, tamper
from tests.fixtures.store import pg_conninfo

pytestmark = pytest.mark.pg
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("table", ["audit_events", "audit_chain_head"])
def test_truncate_is_refused(pg_url, table):
    with (
        psycopg.connect(pg_conninfo(pg_url)) as conn,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        conn.execute(f"TRUNCATE {table}")


def test_a_plain_postgresql_url_works_end_to_end(pg_url):
    plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = make_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg"
        with make_session_factory(engine).begin() as session:
            append(session, sample_events(3))
        assert verify(engine).count == 3
    finally:
        engine.dispose()


def test_the_chain_head_row_lock_makes_a_second_writer_wait(pg_url, sessions_on):
    """While one transaction has appended (and not committed), another cannot take the head."""
    sessions = sessions_on(pg_url)
    with sessions.begin() as first:
        append(first, sample_events(2))
        with sessions() as second:
            second.execute(text("SET lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                append(second, sample_events(1))
    with sessions.begin() as later:
        assert append(later, sample_events(1))[0].seq == 3


WRITER = textwrap.dedent(
    """
    import sys
    from decision_review.audit.log import append
    from decision_review.store.db import make_engine, make_session_factory
    from tests.audit.tampering import sample_events
    sessions = make_session_factory(make_engine(sys.argv[1]))
    for b in range(int(sys.argv[2])):
        with sessions.begin() as session:
            append(session, sample_events(40, start=b * 40))
    """
)


def test_writers_in_separate_processes_keep_one_chain(pg_url):
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, "10"], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    engine = make_engine(pg_url)
    try:
        report = verify(engine)
    finally:
        engine.dispose()
    assert report.ok, report.summary()
    assert report.count == 3 * 10 * 40


def test_update_and_delete_are_refused_even_in_bulk(pg_url, sessions_on):
    with sessions_on(pg_url).begin() as session:
        append(session, sample_events(3))
    engine = make_engine(pg_url)
    try:
        for statement in ("UPDATE audit_events SET seq = seq + 10", "DELETE FROM audit_events WHERE seq > 0"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    assert query(pg_url, "SELECT count(*) FROM audit_events") == [(3,)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
    edit=st.sampled_from(EDITS),
    data=st.data(),
)
def test_random_appends_and_a_random_edit_are_always_found_postgresql(pg_url, batches, edit, data):
    """The property of tests/audit/test_tamper.py on PostgreSQL, one database reset per example."""
    if sum(batches) < 2:
        batches = [*batches, 1]
    zero = "0" * 64
    tamper(
        pg_url,
        "DELETE FROM audit_events",
        ("UPDATE audit_chain_head SET seq = 0, hash = ?, ts = ''", (zero,)),
    )
    engine = make_engine(pg_url)
    try:
        sessions = make_session_factory(engine)
        start = 0
        for size in batches:
            with sessions.begin() as session:
                append(session, sample_events(size, start=start))
            start += size
        rows = query(pg_url, f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq")
        k = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="k")
        j = data.draw(st.integers(min_value=0, max_value=len(rows) - 1).filter(lambda x: x != k), label="j")
        edited, seq, kind = apply_edit(rows, edit, k, j)
        placeholders = ", ".join("?" * len(COLUMNS))
        tamper(
            pg_url,
            "DELETE FROM audit_events",
            *[
                (f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({placeholders})", row)
                for row in edited
            ],
        )
        report = verify(engine)
        assert report.broken is not None, f"{edit} at {k} not detected"
        assert (report.broken.seq, report.broken.kind) == (seq, kind)
    finally:
        engine.dispose()
