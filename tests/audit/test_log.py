"""Appending to and verifying the audit log in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import func, select, text

from decision_review.audit import log
from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append, append_one, find_events, verify
from decision_review.errors import InvalidInput
from decision_review.store import repository
from decision_review.store.tables import AuditEvent
from tests.audit.tampering import query, sample_events, tamper


def test_appended_events_form_one_verified_chain(engine, sessions):
    with sessions.begin() as session:
        first = append(session, sample_events(5))
    with sessions.begin() as session:
        second = append(session, sample_events(3, start=5))
    stored = first + second
    assert [e.seq for e in stored] == list(range(1, 9))
    assert stored[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    report = verify(engine)
    assert report.ok, report.summary()
    assert (report.count, report.head_seq, report.head_hash) == (8, 8, stored[-1].hash)


def test_stored_events_read_back_exactly(engine, sessions):
    """Unicode, floats and nulls survive both engines byte for byte (the hash covers them)."""
    with sessions.begin() as session:
        stored = append(session, sample_events(4))
    with sessions() as session:
        again = find_events(session, limit=10)
    assert again == stored
    assert again[1].payload["reasons"][0]["text"] == "Lange Laufzeit – „hoch“"
    assert again[1].payload["score"] == 1 / 7


def test_nothing_is_appended_when_the_transaction_rolls_back(engine, sessions):
    with sessions.begin() as session:
        append(session, sample_events(2))
    with pytest.raises(RuntimeError), sessions.begin() as session:
        append(session, sample_events(3, start=2))
        raise RuntimeError("the decision failed after its event was appended")
    with sessions.begin() as session:
        later = append_one(session, sample_events(1, start=9)[0])
    assert later.seq == 3
    report = verify(engine)
    assert report.ok and report.count == 3


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (NewEvent("no_such_kind", actor="system"), "unknown kind"),
        (NewEvent(EventKind.OVERRIDE, actor=""), "actor must be a non-empty string"),
        (NewEvent(EventKind.OVERRIDE, actor="a", case_id=""), "case_id must be a non-empty string"),
        (NewEvent(EventKind.OVERRIDE, actor="a", product="p\x00"), "without NUL"),
        (NewEvent(EventKind.OVERRIDE, actor="a", payload={"score": float("nan")}), "not canonical JSON"),
    ],
)
def test_malformed_events_are_refused_before_anything_is_written(engine, sessions, event, message):
    with pytest.raises(InvalidInput, match=message), sessions.begin() as session:
        append(session, [*sample_events(2), event])
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_ts_never_goes_backwards_along_the_chain(engine, sessions, migrated_url):
    """Even if the clock does: the head's ts is a floor, so a date range is a contiguous run."""
    with sessions.begin() as session:
        append(session, sample_events(1))
    future = "2999-01-01T00:00:00.000000Z"
    tamper(migrated_url, ("UPDATE audit_chain_head SET ts = ?", (future,)))
    with sessions.begin() as session:
        later = append(session, sample_events(2, start=1))
    assert [e.ts for e in later] == [future, future]
    assert verify(engine).ok


def test_concurrent_writers_keep_one_unbroken_chain(engine, sessions):
    """Writers in parallel threads, each with its own connection, serialise on the chain head."""
    writers, batches, size = 4, 8, 25
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for b in range(batches):
                with sessions.begin() as session:
                    append(session, sample_events(size, start=(w * batches + b) * size))
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify(engine)
    assert report.ok, report.summary()
    assert report.count == writers * batches * size


def test_a_batch_is_one_statement_per_chunk_not_one_per_event(engine, sessions, monkeypatch):
    statements: list[str] = []
    from sqlalchemy import event as sa_event

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0])

    copy_rows = repository._copy_rows  # PostgreSQL: COPY, on the driver's cursor

    def copy(connection, table, columns, rows):
        statements.append("INSERT")
        copy_rows(connection, table, columns, rows)

    sa_event.listen(engine, "before_cursor_execute", count)
    monkeypatch.setattr(repository, "_copy_rows", copy)
    monkeypatch.setattr(log, "INSERT_CHUNK", 100)
    with sessions.begin() as session:
        append(session, sample_events(250))
    sa_event.remove(engine, "before_cursor_execute", count)
    assert statements.count("INSERT") == 3  # 250 events in chunks of 100
    assert statements.count("UPDATE") == 1  # the head moves once per batch
    assert verify(engine).count == 250


def test_find_events_filters(engine, sessions):
    with sessions.begin() as session:
        append(session, sample_events(12))
    with sessions() as session:
        by_case = find_events(session, case_id="case-5")
        by_kind = find_events(session, kind=EventKind.OVERRIDE, product="german_credit")
        page = find_events(session, after_seq=10, limit=5)
    assert [e.case_id for e in by_case] == ["case-5"]
    assert [(e.seq, e.kind, e.product) for e in by_kind] == [
        (s, "override", "german_credit") for s in (4, 8, 12)
    ]
    assert [e.seq for e in page] == [11, 12]


def test_verify_reports_the_recorded_head_and_anchors(engine, sessions, migrated_url):
    with sessions.begin() as session:
        stored = append(session, sample_events(6))
    assert verify(engine, anchors=[(3, stored[2].hash), (6, stored[5].hash)]).ok
    report = verify(engine, anchors=[(3, stored[3].hash)])
    assert not report.ok
    assert (report.broken.seq, report.broken.kind) == (3, "anchor_mismatch")
    assert query(migrated_url, "SELECT seq, hash FROM audit_chain_head") == [(6, stored[5].hash)]


def test_record_verification_appends_its_event(engine, sessions):
    with sessions.begin() as session:
        append(session, sample_events(2))
    report = verify(engine)
    with sessions.begin() as session:
        event = log.record_verification(session, report, actor="compliance:ana")
    assert event.kind == "verification_run"
    assert event.payload["ok"] is True and event.payload["head_seq"] == 2
    with sessions() as session:
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 3


def test_find_events_by_time_takes_aware_datetimes_or_utc_text(engine, sessions, monkeypatch):
    import datetime as dt

    for day in ("2024-05-01", "2024-05-02"):
        monkeypatch.setattr(log, "_now_text", lambda day=day: f"{day}T10:00:00.000000Z")
        with sessions.begin() as session:
            append(session, sample_events(2))
    may2 = dt.datetime(2024, 5, 2, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # = May 2, 00:00 UTC
    with sessions() as session:
        assert [e.seq for e in find_events(session, since=may2)] == [3, 4]
        assert [e.seq for e in find_events(session, until="2024-05-02T00:00:00.000000Z")] == [1, 2]
        with pytest.raises(InvalidInput, match="naive datetime"):
            find_events(session, since=dt.datetime(2024, 5, 2))
