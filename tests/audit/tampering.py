"""Editing the audit log behind the application's back, as an attacker with the database would.

The triggers that make the log append-only are bypassed the way a database owner could: on
SQLite by dropping them in the file (and putting them back), on PostgreSQL by a superuser's
`session_replication_role = replica`. Statements use `?` placeholders on both engines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from decision_review.audit.chain import (
    GENESIS_HASH,
    BreakKind,
    EventKind,
    canonical_json,
    event_document,
    event_hash,
)
from decision_review.audit.log import NewEvent
from tests.fixtures.store import pg_conninfo

Statement = tuple[str, Sequence[Any]]


def tamper(url: str, *statements: Statement | str) -> None:
    """Run `statements` on the database at `url` with the append-only triggers out of the way."""
    steps = [(s, ()) if isinstance(s, str) else s for s in statements]
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            triggers = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            for name, _ in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            for sql, params in steps:
                connection.execute(sql, params)
            for _, sql in triggers:
                connection.execute(sql)
            connection.execute("COMMIT")
        finally:
            connection.close()
        return
    with psycopg.connect(pg_conninfo(url)) as connection:
        connection.execute("SET session_replication_role = replica")
        for sql, params in steps:
            connection.execute(sql.replace("?", "%s"), params)


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Read straight from the database (no application code in between)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()
    with psycopg.connect(pg_conninfo(url)) as connection:
        return connection.execute(sql.replace("?", "%s"), params).fetchall()


def sample_events(n: int, start: int = 0) -> list[NewEvent]:
    """Events of several kinds with payloads like the engine's (floats, unicode, nesting, nulls)."""
    kinds = [EventKind.CASE_RECEIVED, EventKind.DECISION_MADE, EventKind.REVIEW_CLAIMED, EventKind.OVERRIDE]
    events = []
    for i in range(start, start + n):
        events.append(
            NewEvent(
                kinds[i % len(kinds)],
                actor="system" if i % 3 else "zoë",
                product="german_credit" if i % 2 else "fraud_alerts",
                case_id=f"case-{i}",
                policy_ref="german_credit@3" if i % 4 == 1 else None,
                model_ref="xgb-credit@2" if i % 4 == 1 else None,
                payload={
                    "i": i,
                    "score": i / 7,
                    "reasons": [
                        {
                            "field": "duration",
                            "code": "R01",
                            "text": "Lange Laufzeit – „hoch“",
                            "contribution": 0.25,
                        }
                    ],
                    "inputs": {
                        "duration": 12 + i % 30,
                        "credit_amount": 1000 + i,
                        "purpose": "car (new)",
                        "note": None,
                    },
                },
            )
        )
    return events


def build_chain(n: int) -> list[tuple]:
    """A valid chain of `n` event rows (COLUMNS order), built with the chain rules alone."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        payload = canonical_json({"i": seq, "text": f"event {seq}"})
        fields = (
            seq,
            f"2024-01-01T00:00:{seq % 60:02d}.000000Z",
            "system",
            "case_received",
            "p",
            f"c{seq}",
            None,
            None,
        )
        digest = event_hash(prev, event_document(*fields, payload, prev))
        rows.append((*fields, payload, prev, digest))
        prev = digest
    return rows


EDITS = ["field", "field_and_hash", "delete", "swap", "insert_forged", "truncate"]


def apply_edit(rows: list[tuple], edit: str, k: int, j: int) -> tuple[list[tuple], int, BreakKind]:
    """Apply one tampering edit at index k (and j); return the rows, the seq where verification
    must break, and how."""
    rows = list(rows)
    seq = k + 1
    if edit == "field":
        rows[k] = (*rows[k][:3], "mallory", *rows[k][4:])
        return rows, seq, BreakKind.HASH_MISMATCH
    if edit == "field_and_hash":  # a forger who also recomputes the edited event's own hash
        fields = (*rows[k][:2], "mallory", *rows[k][3:8])
        rows[k] = (
            *fields,
            rows[k][8],
            rows[k][9],
            event_hash(rows[k][9], event_document(*fields, rows[k][8], rows[k][9])),
        )
        if k == len(rows) - 1:
            return rows, seq, BreakKind.HEAD_MISMATCH
        return rows, seq + 1, BreakKind.PREV_HASH_MISMATCH
    if edit == "delete":
        del rows[k]
        if k == len(rows):
            return rows, seq, BreakKind.TRUNCATED
        return rows, seq, BreakKind.SEQUENCE_GAP
    if edit == "swap":  # two events exchange their places (and sequence numbers)
        i, j = min(k, j), max(k, j)
        rows[i], rows[j] = (i + 1, *rows[j][1:]), (j + 1, *rows[i][1:])
        return rows, i + 1, BreakKind.PREV_HASH_MISMATCH
    if edit == "insert_forged":  # an event slipped in after k, later ones renumbered
        forged_fields = (seq + 1, rows[k][1], "mallory", "override", "p", "c", None, None)
        payload = canonical_json({"forged": True})
        forged = (
            *forged_fields,
            payload,
            rows[k][10],
            event_hash(rows[k][10], event_document(*forged_fields, payload, rows[k][10])),
        )
        n = len(rows)
        rows = rows[: k + 1] + [forged] + [(r[0] + 1, *r[1:]) for r in rows[k + 1 :]]
        if k < n - 1:  # the event after the forged one no longer links
            return rows, seq + 2, BreakKind.PREV_HASH_MISMATCH
        return rows, n + 1, BreakKind.BEYOND_HEAD  # appended behind the log's back
    if edit == "truncate":
        del rows[k:]
        return rows, seq, BreakKind.TRUNCATED
    raise AssertionError(edit)
