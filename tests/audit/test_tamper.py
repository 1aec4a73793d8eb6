"""Edits made directly in the database (the triggers bypassed, as the database's owner could) are
found by `verify`, at the exact place, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.audit.chain import COLUMNS, BreakKind, event_document, event_hash
from decision_review.audit.log import append, verify
from decision_review.store.db import make_engine, make_session_factory
from tests.audit.tampering import EDITS, apply_edit, query, sample_events, tamper

N = 10


@pytest.fixture
def chain(engine, sessions):
    """Ten events appended in two batches; returns them as stored."""
    with sessions.begin() as session:
        stored = append(session, sample_events(6))
    with sessions.begin() as session:
        stored += append(session, sample_events(4, start=6))
    return stored


def _broken(engine):
    report = verify(engine)
    assert not report.ok, "the edit was not detected"
    return report.broken


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "mallory"),
        ("ts", "2020-01-01T00:00:00.000000Z"),
        ("kind", "override"),
        ("case_id", "case-other"),
        ("product", None),
        ("policy_ref", "german_credit@4"),
        ("payload", '{"i":4,"score":0.0}'),
    ],
)
def test_a_changed_field_is_found_at_its_event(engine, migrated_url, chain, column, value):
    tamper(migrated_url, (f"UPDATE audit_events SET {column} = ? WHERE seq = 5", (value,)))
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.found) == (5, BreakKind.HASH_MISMATCH, chain[4].hash)


def test_a_changed_event_with_a_recomputed_hash_breaks_the_next_link(engine, migrated_url, chain):
    e = chain[4]
    forged = event_hash(
        e.prev_hash,
        event_document(e.seq, e.ts, "mallory", e.kind, e.product, e.case_id, e.policy_ref, e.model_ref,
                       e.payload_json, e.prev_hash),
    )  # fmt: skip
    tamper(migrated_url, ("UPDATE audit_events SET actor = 'mallory', hash = ? WHERE seq = 5", (forged,)))
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.expected, broken.found) == (
        6, BreakKind.PREV_HASH_MISMATCH, forged, chain[4].hash,
    )  # fmt: skip


def test_a_deleted_event_is_found_as_a_gap(engine, migrated_url, chain):
    tamper(migrated_url, "DELETE FROM audit_events WHERE seq = 4")
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.expected, broken.found) == (4, BreakKind.SEQUENCE_GAP, "4", "5")


def test_two_reordered_events_are_found_at_the_first(engine, migrated_url, chain):
    tamper(
        migrated_url,
        "UPDATE audit_events SET seq = -1 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 7",
        "UPDATE audit_events SET seq = 7 WHERE seq = -1",
    )
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.expected, broken.found) == (
        3, BreakKind.PREV_HASH_MISMATCH, chain[1].hash, chain[5].hash,
    )  # fmt: skip


def _insert(url, seq, prev_hash, digest=None):
    fields = (
        seq,
        "2030-01-01T00:00:00.000000Z",
        "mallory",
        "override",
        "german_credit",
        "case-3",
        None,
        None,
    )
    payload = '{"outcome":"approve"}'
    digest = digest or event_hash(prev_hash, event_document(*fields, payload, prev_hash))
    columns = ", ".join(COLUMNS)
    return (
        f"INSERT INTO audit_events ({columns}) VALUES ({', '.join('?' * 11)})",
        (*fields, payload, prev_hash, digest),
    )


def test_a_forged_event_inserted_in_the_middle_is_found_where_it_no_longer_links(engine, migrated_url, chain):
    tamper(
        migrated_url,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 5",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000",
        _insert(migrated_url, 6, chain[4].hash),
        ("UPDATE audit_chain_head SET seq = 11", ()),
    )
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.found) == (7, BreakKind.PREV_HASH_MISMATCH, chain[4].hash)


def test_a_forged_event_with_a_made_up_hash_is_found_at_itself(engine, migrated_url, chain):
    tamper(
        migrated_url,
        "DELETE FROM audit_events WHERE seq = 6",
        _insert(migrated_url, 6, chain[4].hash, "f" * 64),
    )
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.found) == (6, BreakKind.HASH_MISMATCH, "f" * 64)


def test_an_event_appended_behind_the_logs_back_is_found_after_the_head(engine, migrated_url, chain):
    tamper(migrated_url, _insert(migrated_url, 11, chain[9].hash))
    broken = _broken(engine)
    assert (broken.seq, broken.kind) == (11, BreakKind.BEYOND_HEAD)


def test_a_truncated_tail_is_found_against_the_head(engine, migrated_url, chain):
    tamper(migrated_url, "DELETE FROM audit_events WHERE seq >= 8")
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.expected, broken.found) == (
        8, BreakKind.TRUNCATED, chain[9].hash, chain[6].hash,
    )  # fmt: skip


def test_a_head_pointing_elsewhere_is_found(engine, migrated_url, chain):
    tamper(migrated_url, ("UPDATE audit_chain_head SET hash = ?", ("e" * 64,)))
    broken = _broken(engine)
    assert (broken.seq, broken.kind, broken.found) == (10, BreakKind.HEAD_MISMATCH, "e" * 64)


def test_a_rewritten_tail_is_found_by_an_earlier_anchor(engine, migrated_url, chain):
    """A forger who recomputes every hash after an edit (and the head) leaves a valid-looking chain;
    a hash recorded before (an export manifest, a published head) still exposes it."""
    rows = query(migrated_url, f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq")
    prev, statements = chain[3].hash, []
    for row in rows[4:]:
        fields = (*row[:2], "mallory" if row[0] == 5 else row[2], *row[3:8])
        digest = event_hash(prev, event_document(*fields, row[8], prev))
        statements.append(("UPDATE audit_events SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                           (fields[2], prev, digest, row[0])))  # fmt: skip
        prev = digest
    tamper(migrated_url, *statements, ("UPDATE audit_chain_head SET hash = ?", (prev,)))
    assert verify(engine).ok  # the limit of a chain on its own
    report = verify(engine, anchors=[(8, chain[7].hash)])
    assert (report.broken.seq, report.broken.kind) == (8, BreakKind.ANCHOR_MISMATCH)


def rewrite_log(url: str, rows: list[tuple]) -> None:
    """Replace the whole audit table with `rows` (the head row is left as it was)."""
    columns = ", ".join(COLUMNS)
    tamper(
        url,
        "DELETE FROM audit_events",
        *[(f"INSERT INTO audit_events ({columns}) VALUES ({', '.join('?' * 11)})", row) for row in rows],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=5),
    edit=st.sampled_from(EDITS),
    data=st.data(),
)
def test_random_appends_and_a_random_edit_are_always_found_sqlite(sqlite_template, batches, edit, data):
    """Property: whatever was appended, in whatever batches, any single edit of the file is found
    at the place where the chain stops holding."""
    if sum(batches) < 2:
        batches = [*batches, 1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.db"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite:///{path}"
        _check_random_edit(url, batches, edit, data)


def _check_random_edit(url, batches, edit, data):
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        start = 0
        for size in batches:
            with sessions.begin() as session:
                append(session, sample_events(size, start=start))
            start += size
        rows = query(url, f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq")
        k = data.draw(st.integers(min_value=0, max_value=len(rows) - 1), label="k")
        j = data.draw(st.integers(min_value=0, max_value=len(rows) - 1).filter(lambda x: x != k), label="j")
        edited, seq, kind = apply_edit(rows, edit, k, j)
        rewrite_log(url, edited)
        report = verify(engine)
        assert report.broken is not None, f"{edit} at {k} not detected"
        assert (report.broken.seq, report.broken.kind) == (seq, kind)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("edit", EDITS)
def test_verifying_in_worker_processes_reports_exactly_what_a_single_walk_does(
    engine, sessions, migrated_url, edit
):
    """Three workers split 30 events at 10 and 20; edits at and around those joins must be
    reported as by one walk."""
    with sessions.begin() as session:
        append(session, sample_events(30))
    rows = query(migrated_url, f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq")
    parallel = verify(engine, workers=3)
    assert parallel.ok and parallel.count == 30
    for k, j in [(0, 5), (9, 10), (10, 25), (29, 3)]:
        edited, seq, kind = apply_edit(rows, edit, k, j)
        rewrite_log(migrated_url, edited)
        single, parallel = verify(engine, workers=1), verify(engine, workers=3)
        assert (single.broken.seq, single.broken.kind) == (seq, kind)
        assert (parallel.broken, parallel.count) == (single.broken, single.count), (edit, k)
    rewrite_log(migrated_url, rows)
    assert verify(engine, workers=3).ok
