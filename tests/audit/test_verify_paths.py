"""The fast ways `verify` reads and checks the chain report exactly what a plain walk does.

`verify` reads through the driver in small pages (SQLite: one streamed statement; PostgreSQL:
keyset pages read ahead by a thread), in this process or in worker processes. The reference here
is the simplest possible walk: every stored row, read straight from the database, fed to
`ChainVerifier.feed` in one piece. Whatever is in the table, both must give the same report.
"""

from __future__ import annotations

import threading

import pytest

from decision_review.audit import ranges
from decision_review.audit.chain import (
    COLUMNS,
    Break,
    ChainVerifier,
)
from decision_review.audit.log import append, read_head, verify
from decision_review.store.db import snapshot
from tests.audit.tampering import EDITS, apply_edit, query, sample_events, tamper
from tests.audit.test_tamper import rewrite_log

SELECT_ALL = f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq"


def walk(url, engine) -> tuple[Break | None, int]:
    """The reference report: all stored rows fed to `feed` at once, then the head."""
    verifier = ChainVerifier()
    verifier.feed(query(url, SELECT_ALL))
    with snapshot(engine) as connection:
        head = read_head(connection)
    return verifier.finish(head.seq, head.hash), verifier.count


def assert_same_report(url, engine, **options):
    expected = walk(url, engine)
    report = verify(engine, **options)
    assert (report.broken, report.count) == expected, options
    return report


# ---------------------------------------------------------------------------------------------
# In the database, on both engines


@pytest.fixture
def log_of_30(engine, sessions, migrated_url):
    with sessions.begin() as session:
        append(session, sample_events(17))
    with sessions.begin() as session:
        append(session, sample_events(13, start=17))
    return query(migrated_url, SELECT_ALL)


@pytest.mark.slow
@pytest.mark.parametrize("edit", EDITS)
def test_every_edit_at_page_edges_is_reported_as_a_plain_walk_does(engine, migrated_url, log_of_30, edit):
    """Pages of 4 rows (and 3 worker ranges): edits on, before and after page and range edges."""
    rows = log_of_30
    for k, j in [(0, 29), (3, 4), (4, 11), (9, 10), (16, 17), (28, 2), (29, 0)]:
        edited = apply_edit(rows, edit, k, j)[0]
        rewrite_log(migrated_url, edited)
        assert_same_report(migrated_url, engine, chunk_size=4, workers=1)
        assert_same_report(migrated_url, engine, chunk_size=4, workers=3)
        assert_same_report(migrated_url, engine)


def test_text_that_needs_escaping_verifies_and_its_edits_are_found(engine, sessions, migrated_url):
    """Shared fields with quotes, backslashes, control characters, non-ASCII and JSON-like text."""
    odd = ['a"b', "back\\slash", "tab\there", "zoë – „x“", "null", '["x"]', "\u2028\x7f", "\x01\x1f"]
    with sessions.begin() as session:
        events = sample_events(len(odd))
        append(session, [
            type(e)(e.kind, actor=text, product=text, case_id=text, policy_ref=None if i % 2 else text,
                    model_ref=text, payload=e.payload)
            for i, (e, text) in enumerate(zip(events, odd, strict=True))
        ])  # fmt: skip
    assert assert_same_report(migrated_url, engine, chunk_size=3).ok
    rows = query(migrated_url, SELECT_ALL)
    for seq, column, value in [(3, "product", "null"), (5, "product", None), (6, "actor", '["y"]'),
                               (8, "kind", "\x01\x1e"), (2, "policy_ref", "null"),
                               (2, "actor", '"back\\\\slash"')]:  # fmt: skip
        rewrite_log(migrated_url, rows)
        tamper(migrated_url, (f"UPDATE audit_events SET {column} = ? WHERE seq = ?", (value, seq)))
        report = assert_same_report(migrated_url, engine, chunk_size=3)
        assert (report.broken.seq, report.broken.kind) == (seq, "hash_mismatch")


def test_sqlite_values_of_other_types_are_reported_as_a_plain_walk_does(sqlite_url, sessions_on):
    """SQLite stores whatever type it is given: numbers, blobs, a seq between two others."""
    from decision_review.store.db import make_engine

    with sessions_on(sqlite_url).begin() as session:
        append(session, sample_events(12))
    rows = query(sqlite_url, SELECT_ALL)
    engine = make_engine(sqlite_url)
    try:
        for column, value in [("actor", 42), ("kind", 2.5), ("product", b"blob"), ("payload", b"{}"),
                              ("case_id", 7), ("ts", 20240101), ("seq", 6.5)]:  # fmt: skip
            rewrite_log(sqlite_url, rows)
            tamper(sqlite_url, (f"UPDATE audit_events SET {column} = ? WHERE seq = 6", (value,)))
            report = assert_same_report(sqlite_url, engine, chunk_size=4)
            assert not report.ok, column
        rewrite_log(sqlite_url, rows)
        column_list = ", ".join(COLUMNS)
        tamper(sqlite_url, (f"INSERT INTO audit_events ({column_list}) SELECT 6.5, ts, actor, kind, product, "
                            "case_id, policy_ref, model_ref, payload, prev_hash, hash FROM audit_events "
                            "WHERE seq = 6", ()))  # fmt: skip
        report = assert_same_report(sqlite_url, engine, chunk_size=4)
        assert (report.broken.seq, report.broken.kind, report.broken.found) == (7, "sequence_gap", "6.5")
    finally:
        engine.dispose()


def test_a_break_on_the_first_page_stops_the_reading_and_the_anchors_still_run(
    engine, sessions, migrated_url
):
    with sessions.begin() as session:
        stored = append(session, sample_events(60))
    threads = threading.active_count()
    report = verify(engine, chunk_size=5, anchors=[(60, "0" * 64)])
    assert report.ok is False and report.broken.kind == "anchor_mismatch"
    tamper(migrated_url, ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", ()))
    report = verify(engine, chunk_size=5, anchors=[(60, stored[59].hash)])
    assert (report.broken.seq, report.broken.kind, report.count) == (2, "hash_mismatch", 1)
    assert threading.active_count() == threads  # no reader thread left behind


def test_sqlite_memory_map_is_only_for_the_verification(sqlite_url, sessions_on):
    from decision_review.store.db import make_engine

    engine = make_engine(sqlite_url, pool_size=1)
    try:
        with sessions_on(sqlite_url).begin() as session:
            append(session, sample_events(3))
        with engine.connect() as connection:
            before = connection.exec_driver_sql("PRAGMA mmap_size").scalar_one()
        assert verify(engine).ok
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA mmap_size").scalar_one() == before
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# Reading ahead in a thread


def test_read_ahead_hands_on_pages_in_order_and_the_readers_error():
    def pages():
        yield [1]
        yield [2]
        raise RuntimeError("connection lost")

    seen = []
    with pytest.raises(RuntimeError, match="connection lost"):
        for page in ranges._prefetched(pages()):
            seen.append(page)
    assert seen == [[1], [2]]


def test_read_ahead_stops_reading_when_the_consumer_stops():
    closed = threading.Event()

    def pages():
        try:
            for i in range(10_000):
                yield [i]
        finally:
            closed.set()

    reader = ranges._prefetched(pages())
    assert next(reader) == [0]
    reader.close()
    assert closed.is_set()
