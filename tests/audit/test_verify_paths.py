"""The fast ways `verify` reads and checks the chain report exactly what a plain walk does.

`verify` reads through the driver in small pages (SQLite: one streamed statement with the five
repeated fields as one `json_array` value, checked by `ChainVerifier.feed_grouped`, handing over
to `feed` where that stops; PostgreSQL: keyset pages read ahead by a thread). The reference here
is the simplest possible walk: every stored row, read straight from the database, fed to
`ChainVerifier.feed` in one piece. Whatever is in the table, both must give the same report.
"""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.audit import ranges
from decision_review.audit.chain import (
    COLUMNS,
    GENESIS_HASH,
    Break,
    ChainVerifier,
    canonical_json,
    event_document,
    event_hash,
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
# The grouped check on its own (no database)

text = st.text(max_size=10).filter(lambda s: "\x00" not in s)
texts_or_null = st.none() | text


def chain_with(fields_per_event: list[tuple]) -> list[tuple]:
    """A valid chain whose events carry the given (ts, actor, kind, product, case_id, policy_ref,
    model_ref) fields; the payloads hold their own seq."""
    rows, prev = [], GENESIS_HASH
    for seq, fields in enumerate(fields_per_event, 1):
        payload = canonical_json({"seq": seq, "note": 'é " \\ \n'})
        try:
            digest = event_hash(prev, event_document(seq, *fields, payload, prev))
        except (TypeError, UnicodeEncodeError):  # not text: nothing hashes it, a forger stores it anyway
            digest = "f" * 64
        rows.append((seq, *fields, payload, prev, digest))
        prev = digest
    return rows


def grouped(row: tuple) -> tuple:
    """A stored row in GROUPED_COLUMNS order, as SQLite's json_array gives the shared fields."""
    seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev_hash, digest = row
    shared = json.dumps([actor, kind, product, policy_ref, model_ref], ensure_ascii=False, default=str)
    return seq, ts, case_id, shared, payload, prev_hash, digest


def fast_then_exact(rows: list[tuple], page: int) -> ChainVerifier:
    """What check_range does on SQLite: grouped pages until they stop, then `feed` from there."""
    verifier = ChainVerifier()
    start = 0
    while start < len(rows):
        if not verifier.feed_grouped([grouped(r) for r in rows[start : start + page]]):
            break
        start += page
    rest = [r for r in rows if r[0] > verifier.last_seq]
    for i in range(0, len(rest), page):
        if verifier.feed(rest[i : i + page]) is not None:
            break
    return verifier


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(
        st.tuples(text, text, text, texts_or_null, texts_or_null, texts_or_null, texts_or_null),
        min_size=2,
        max_size=12,
    ),
    edit=st.sampled_from([*EDITS, "none"]),
    page=st.integers(min_value=1, max_value=5),
    data=st.data(),
)
def test_the_grouped_check_reports_exactly_what_feed_does(events, edit, page, data):
    """Any text (quotes, backslashes, control characters, non-ASCII, "null"), any edit, any page
    size: the grouped check then `feed` ends in the same state as `feed` alone."""
    rows = chain_with(events)
    if edit != "none":
        k = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="k")
        j = data.draw(st.integers(min_value=0, max_value=len(rows) - 1).filter(lambda x: x != k), label="j")
        rows = apply_edit(rows, edit, k, j)[0]
    reference = ChainVerifier()
    reference.feed(rows)
    fast = fast_then_exact(rows, page)
    assert (fast.broken, fast.count, fast.last_hash) == (
        reference.broken,
        reference.count,
        reference.last_hash,
    )


@pytest.mark.parametrize(
    "odd",
    [
        ("ts", 20240101),  # numbers where text belongs (SQLite keeps whatever type it is given)
        ("actor", 7),
        ("kind", 1.5),
        ("product", "null"),  # the text "null" is not a null
        ("policy_ref", '["a"]'),
        ("model_ref", True),
    ],
)
def test_odd_field_values_are_checked_alike_or_left_to_feed(odd):
    name, value = odd
    fields = ["2024-01-01T00:00:00.000000Z", "system", "case_received", None, "c-1", None, None]
    position = ["ts", "actor", "kind", "product", "case_id", "policy_ref", "model_ref"].index(name)
    events = [tuple(fields)] * 5
    events[2] = (*fields[:position], value, *fields[position + 1 :])
    rows = chain_with(events)
    reference = ChainVerifier()
    reference.feed(rows)
    fast = fast_then_exact(rows, page=2)
    assert (fast.broken, fast.count) == (reference.broken, reference.count)


@pytest.mark.parametrize(
    ("position", "before", "after"),
    [
        (3, None, "null"),  # product: a null becomes the text "null"
        (1, "system", '"system"'),  # actor: a text becomes its own JSON form
        (5, None, ""),  # policy_ref: a null becomes an empty text
        (6, "m@1", "m@1 "),
        (0, "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000000Z\x00"),
    ],
)
def test_an_edit_that_a_loose_reading_would_miss_is_found(position, before, after):
    """The forger keeps the event's hash; only exact decoding of the shared fields tells them apart."""
    fields = ["2024-01-01T00:00:00.000000Z", "system", "case_received", None, "c-1", None, "m@1"]
    fields[position] = before
    rows = chain_with([tuple(fields)] * 6)
    rows[3] = (*rows[3][: position + 1], after, *rows[3][position + 2 :])
    fast = fast_then_exact(rows, page=2)
    assert (fast.broken.seq, fast.broken.kind) == (4, "hash_mismatch")


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
