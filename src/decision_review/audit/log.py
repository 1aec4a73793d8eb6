"""Appending to the audit log and verifying it in the database.

Appends happen inside the caller's transaction, so a decision and its event commit together or
not at all; the caller commits. Each batch takes the chain-head lock once (`BEGIN IMMEDIATE` on
SQLite, the engine default; `SELECT ... FOR UPDATE` of the head row on PostgreSQL), so concurrent
writers queue up and the chain stays one unbroken line. The head row also gives the last
timestamp, so `ts` never goes backwards along the chain even if the clock does: a date range of
the log is always one contiguous run of sequence numbers.

Example:

    >>> with sessions.begin() as session:                                  # doctest: +SKIP
    ...     stored = append(session, [NewEvent(EventKind.POLICY_PUBLISHED, actor="ana",
    ...                                        policy_ref="german_credit@3", payload={...})])
    >>> verify(engine).ok                                                   # doctest: +SKIP
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.orm import Session

from decision_review.audit.chain import (
    COLUMNS,
    GENESIS_HASH,
    TS_FORMAT,
    Break,
    BreakKind,
    ChainVerifier,
    EventKind,
    canonical_json,
    event_document,
)
from decision_review.audit.ranges import PAGE_ROWS, check_range, mapped, read_pages
from decision_review.errors import InvalidInput
from decision_review.store.db import snapshot
from decision_review.store.repository import bulk_insert
from decision_review.store.tables import AuditChainHead, AuditEvent

INSERT_CHUNK = 5_000  # rows per executemany: bounds memory of one statement, not the transaction
VERIFY_CHUNK = PAGE_ROWS  # rows per page read; see audit.ranges for why not more

_events = AuditEvent.__table__
_head = AuditChainHead.__table__


class CanonicalPayload(str):
    """A payload already written as its canonical JSON text: `chain.canonical_json` of an object,
    or a composition of canonical parts proven byte-equal to it (`audit.decisions`). Appended as
    it is, so a bulk writer serialises what two events share (a case's inputs) once."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. The log stamps seq, ts, prev_hash and hash.

    `payload` holds what is needed to explain the event later (inputs, score, reasons, versions);
    it must be JSON-able (Decimal, aware datetime and numpy numbers are converted), or a
    `CanonicalPayload`.
    """

    kind: EventKind | str
    actor: str
    payload: Mapping[str, Any] | CanonicalPayload = field(default_factory=dict)
    product: str | None = None
    case_id: str | None = None
    policy_ref: str | None = None
    model_ref: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: `payload_json` is the exact canonical text that was hashed."""

    seq: int
    ts: str
    actor: str
    kind: str
    product: str | None
    case_id: str | None
    policy_ref: str | None
    model_ref: str | None
    payload_json: str
    prev_hash: str
    hash: str

    @property
    def payload(self) -> Any:
        return json.loads(self.payload_json)

    def as_row(self) -> tuple[Any, ...]:
        """The event as a tuple in `chain.COLUMNS` order (what verification consumes)."""
        return (
            self.seq,
            self.ts,
            self.actor,
            self.kind,
            self.product,
            self.case_id,
            self.policy_ref,
            self.model_ref,
            self.payload_json,
            self.prev_hash,
            self.hash,
        )

    def as_dict(self) -> dict[str, Any]:
        """The event as an export writes it: the payload as a JSON object, not text."""
        out = dict(zip(COLUMNS, self.as_row(), strict=True))
        out["payload"] = self.payload
        return out


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int
    hash: str
    ts: str


# ---------------------------------------------------------------------------------------------
# Append


def _text(value: str | None, name: str, index: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput(f"audit event {index}: {name} is required")
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidInput(
            f"audit event {index}: {name} must be a non-empty string without NUL, got {value!r}"
        )
    return value


def _prepare(
    event: NewEvent, index: int
) -> tuple[str, str, str | None, str | None, str | None, str | None, str]:
    try:
        kind = EventKind(event.kind).value
    except ValueError:
        raise InvalidInput(
            f"audit event {index}: unknown kind {event.kind!r}; known kinds: {', '.join(EventKind)}"
        ) from None
    if isinstance(event.payload, CanonicalPayload) and event.payload.startswith("{"):
        payload = str(event.payload)
    elif not isinstance(event.payload, Mapping):
        raise InvalidInput(
            f"audit event {index}: payload must be a JSON object, got {type(event.payload).__name__}"
        )
    else:
        try:
            payload = canonical_json(dict(event.payload))
        except InvalidInput as exc:
            raise InvalidInput(f"audit event {index} ({kind}): {exc}") from None
    return (
        kind,
        _text(event.actor, "actor", index, required=True),  # type: ignore[return-value]
        _text(event.product, "product", index),
        _text(event.case_id, "case_id", index),
        _text(event.policy_ref, "policy_ref", index),
        _text(event.model_ref, "model_ref", index),
        payload,
    )


def _ts_text(value: str | dt.datetime | None) -> str | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidInput(f"naive datetime {value.isoformat()}: give a timezone-aware UTC time")
        return value.astimezone(dt.UTC).strftime(TS_FORMAT)
    return value


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime(TS_FORMAT)


def lock_head(session: Session) -> ChainHead:
    """Read the chain head, holding the lock that serialises appends until the transaction ends."""
    row = session.execute(
        select(_head.c.seq, _head.c.hash, _head.c.ts).where(_head.c.id == 1).with_for_update()
    ).one_or_none()
    if row is None:
        raise InvalidInput(
            "the audit log has no chain head: run `decision-review db upgrade` on this database"
        )
    return ChainHead(row.seq, row.hash, row.ts)


def append(session: Session, events: Sequence[NewEvent]) -> list[StoredEvent]:
    """Append `events` in order, in the caller's transaction, and return them as stored.

    One head lock and one multi-row insert per chunk of INSERT_CHUNK events; the caller commits
    (a decision and its event commit together). Raises InvalidInput, before touching the
    database, if any event is malformed: nothing of the batch is written.

    The head stays locked until the transaction ends and every other writer waits for it, so
    append last, after the transaction's other writes, and commit promptly.
    """
    if not events:
        return []
    prepared = [_prepare(event, index) for index, event in enumerate(events)]
    head = lock_head(session)
    now = _now_text()
    ts = now if now > head.ts else head.ts  # never backwards along the chain
    sha256 = hashlib.sha256
    seq = head.seq
    prev = head.hash
    stored: list[StoredEvent] = []
    for kind, actor, product, case_id, policy_ref, model_ref, payload in prepared:
        seq += 1
        document = event_document(
            seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev
        )
        digest = sha256((prev + document).encode()).hexdigest()
        stored.append(
            StoredEvent(seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev, digest)
        )
        prev = digest
    for start in range(0, len(stored), INSERT_CHUNK):  # through the driver: see bulk_insert
        bulk_insert(session, _events, COLUMNS, [e.as_row() for e in stored[start : start + INSERT_CHUNK]])
    moved = session.execute(
        update(_head).where(_head.c.id == 1, _head.c.seq == head.seq).values(seq=seq, hash=prev, ts=ts)
    )
    if moved.rowcount != 1:  # pragma: no cover - only if the lock above did not hold
        raise RuntimeError("audit chain head moved while locked; the append was not serialised")
    return stored


def append_one(session: Session, event: NewEvent) -> StoredEvent:
    """Append a single event (see `append`)."""
    return append(session, [event])[0]


# ---------------------------------------------------------------------------------------------
# Reading


def iter_chunks(
    connection: Connection, first_seq: int = 1, last_seq: int | None = None, chunk_size: int = VERIFY_CHUNK
) -> Iterator[list[tuple[Any, ...]]]:
    """Events from `first_seq` (to `last_seq`, or the end) as lists of tuples in COLUMNS order.

    Read through the driver's own connection (the fastest way both drivers return rows, see
    `audit.ranges`); use inside `store.db.snapshot` so every page sees the same chain, and
    exhaust or close the iterator before using the connection for anything else.
    """
    pages = read_pages(connection.connection.dbapi_connection, first_seq, last_seq, chunk_size)
    try:
        yield from pages
    finally:
        pages.close()  # type: ignore[attr-defined]


def read_head(connection: Connection | Session) -> ChainHead:
    row = connection.execute(select(_head.c.seq, _head.c.hash, _head.c.ts).where(_head.c.id == 1)).one()
    return ChainHead(row.seq, row.hash, row.ts)


def hash_at(connection: Connection | Session, seq: int) -> str | None:
    """The stored hash of the event at `seq`, or None if there is none."""
    if seq == 0:
        return GENESIS_HASH
    return connection.execute(select(_events.c.hash).where(_events.c.seq == seq)).scalar_one_or_none()


def find_events(
    session: Session | Connection,
    *,
    product: str | None = None,
    case_id: str | None = None,
    kind: EventKind | str | None = None,
    actor: str | None = None,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[StoredEvent]:
    """Events matching every filter given, in chain order, `limit` at a time after `after_seq`.

    `since`/`until` are aware datetimes or UTC texts in `ts` format (half-open: since <= ts < until).
    """
    since, until = (_ts_text(bound) for bound in (since, until))
    query = select(*(_events.c[name] for name in COLUMNS)).where(_events.c.seq > after_seq)
    if product is not None:
        query = query.where(_events.c.product == product)
    if case_id is not None:
        query = query.where(_events.c.case_id == case_id)
    if kind is not None:
        query = query.where(_events.c.kind == str(kind))
    if actor is not None:
        query = query.where(_events.c.actor == actor)
    if since is not None:
        query = query.where(_events.c.ts >= since)
    if until is not None:
        query = query.where(_events.c.ts < until)
    rows = session.execute(query.order_by(_events.c.seq).limit(limit)).all()
    return [StoredEvent(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# Verify


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify` found: OK with the count and head, or the first break."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    broken: Break | None
    seconds: float

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} events verified; head seq {self.head_seq}, hash {self.head_hash}"
        assert self.broken is not None
        return f"BROKEN at {self.broken.describe()} ({self.count} events verified before it)"

    def to_payload(self) -> dict[str, Any]:
        broken = None
        if self.broken is not None:
            broken = {
                "seq": self.broken.seq,
                "kind": self.broken.kind.value,
                "expected": self.broken.expected,
                "found": self.broken.found,
            }
        return {
            "ok": self.ok,
            "count": self.count,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "broken": broken,
            "seconds": round(self.seconds, 3),
        }


def verify(
    engine: Engine,
    *,
    anchors: Sequence[tuple[int, str]] = (),
    chunk_size: int = VERIFY_CHUNK,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Walk the whole chain in one consistent snapshot and report the first broken link.

    Checks, in order: every event's seq follows the one before, its prev_hash is the previous
    event's hash, its hash matches its content; then that the recorded head is the last event
    (no truncated tail, nothing after it). `anchors` are (seq, hash) pairs recorded earlier (for
    example from an export manifest) that must still be in the chain. `progress` is called with
    the number of events checked so far.

    `workers` > 1 splits the chain into that many ranges verified by worker processes, one per
    core (each starts from the stored hash before its range; the ranges are then joined in
    order, so the report is the same as a single walk's). None: see `worker_count`.
    """
    started = time.perf_counter()
    with snapshot(engine) as connection, mapped(connection.connection.dbapi_connection):
        head = read_head(connection)
        verifier = ChainVerifier()
        count = worker_count(workers, head.seq)
        if count > 1:
            _verify_in_workers(engine, connection, verifier, head.seq, count, chunk_size, progress)
        if verifier.broken is None:  # the rest: everything in a single walk, or what lies after the head
            check_range(connection.connection.dbapi_connection, verifier, None, chunk_size, progress)
        verifier.finish(head.seq, head.hash)
        if verifier.broken is None:
            for seq, expected in anchors:
                found = hash_at(connection, seq)
                if found != expected:
                    verifier.broken = Break(seq, BreakKind.ANCHOR_MISMATCH, expected, found or "(no event)")
                    break
    return VerifyReport(
        ok=verifier.broken is None,
        count=verifier.count,
        head_seq=verifier.last_seq,
        head_hash=verifier.last_hash,
        broken=verifier.broken,
        seconds=time.perf_counter() - started,
    )


PARALLEL_FROM = 200_000
MAX_WORKERS = 4


def worker_count(workers: int | None, events: int) -> int:
    """How many processes verify a log of `events` events when `workers` were asked for.

    None: one per core this process may run on, up to MAX_WORKERS, once the log has
    PARALLEL_FROM events (a worker costs a fraction of a second to start); otherwise one walk in
    this process. Checking a hash is CPU-bound Python, one core per process, and a verification
    is a burst of seconds, so it takes the cores it can get; measured on 2 cores (shared) in
    benchmarks/RESULTS.md.
    """
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, min(cores, MAX_WORKERS)) if events >= PARALLEL_FROM else 1
    return max(1, min(workers, events // 2 or 1))


def _driver_target(engine: Engine) -> tuple[str, str]:
    """What a worker needs to open its own driver connection to the same database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return "sqlite", str(url.database)
    return "postgresql", url.set(drivername="postgresql").render_as_string(hide_password=False)


def _verify_in_workers(
    engine: Engine,
    connection: Connection,
    verifier: ChainVerifier,
    head_seq: int,
    workers: int,
    chunk_size: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Verify 1..head_seq in `workers` processes and join their ranges into `verifier`.

    Events up to the head never change (the log is append-only), so each worker's own snapshot
    sees the same events as `connection`'s. A worker that fails is replaced by a walk here.
    """
    backend, target = _driver_target(engine)
    size = -(-head_seq // workers)
    ranges = [(first, min(first + size - 1, head_seq)) for first in range(1, head_seq + 1, size)]
    done = [0] * len(ranges)
    results: list[dict[str, Any] | None] = [None] * len(ranges)

    def run(index: int, first: int, last: int) -> None:
        request = {"backend": backend, "target": target, "first": first, "last": last, "chunk": chunk_size}
        process = subprocess.Popen(
            [sys.executable, "-m", "decision_review.audit.ranges"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(request))
        process.stdin.close()
        for line in process.stdout:
            message = json.loads(line)
            if "done" in message:
                done[index] = message["done"]
                if progress is not None:
                    progress(sum(done))
            else:
                results[index] = message["result"]
        process.wait()

    threads = [threading.Thread(target=run, args=(i, *r), daemon=True) for i, r in enumerate(ranges)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (_, last), result in zip(ranges, results, strict=True):
        if result is None:  # the worker failed: walk its range here instead
            check_range(connection.connection.dbapi_connection, verifier, last, chunk_size)
            if verifier.broken is not None:
                return
        else:
            verifier.count += result["count"]
            if result["broken"] is not None:
                broken = result["broken"]
                verifier.broken = Break(
                    broken["seq"], BreakKind(broken["kind"]), broken["expected"], broken["found"]
                )
                return
            verifier.next_seq, verifier.last_hash = result["last_seq"] + 1, result["last_hash"]
        if verifier.last_seq < last:  # events missing at the end of this range
            later = select(func.min(_events.c.seq)).where(_events.c.seq > verifier.last_seq)
            found = connection.execute(later).scalar_one_or_none()
            if found is not None:  # a gap; with nothing after it, finish() reports the truncation
                verifier.broken = Break(
                    verifier.next_seq, BreakKind.SEQUENCE_GAP, str(verifier.next_seq), str(found)
                )
            return


def record_verification(session: Session, report: VerifyReport, actor: str) -> StoredEvent:
    """Append the `verification_run` event for a finished verification (the caller commits)."""
    return append_one(session, NewEvent(EventKind.VERIFICATION_RUN, actor=actor, payload=report.to_payload()))
