"""Reading and verifying ranges of the chain straight through the database driver.

Used by `log.verify` and `log.iter_chunks` in their own process, and run as
`python -m decision_review.audit.ranges` in worker processes when a long log is verified in
parallel (hashing is CPU-bound Python: one process uses one core). A worker is a fresh
interpreter that imports only this module, the pure chain rules and the driver, so it starts fast
(multiprocessing's spawn would re-import the caller's __main__, e.g. the whole CLI).

Why the driver and these settings (measured in benchmarks/bench_audit.py; a 1.8 kB event costs
a few microseconds to read, so overheads per row and per page decide the rate):

- sqlite3: one statement streamed with `fetchmany` (no page re-queries), the database file
  memory-mapped while reading (no read() call per 4 kB page), and the five fields that repeat
  from event to event fetched as one `json_array` value (`chain.GROUPED_COLUMNS`): sqlite3
  converts every value of every row separately, so seven values cost less than eleven. Where
  that fast check stops, the stored columns are checked from there by `ChainVerifier.feed`,
  which reports any break, exactly as without it.
- psycopg: keyset pages of a binary cursor (no text parsing of integers; the server skips the
  text output of every column), each page fetched by a reader thread while the previous one is
  hashed, so the server's work overlaps ours.
- Pages of PAGE_ROWS rows (~2 MB): pages of tens of thousands of rows cost more in fresh memory
  (page faults) than they save in round trips.

Worker protocol: one JSON request on stdin
``{"backend": "sqlite"|"postgresql", "target": path or libpq URL, "first": n, "last": m, "chunk": k}``;
progress lines ``{"done": n}`` on stdout after each page, then ``{"result": {...}}``.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from decision_review.audit.chain import COLUMNS, GENESIS_HASH, SHARED_FIELDS, ChainVerifier

SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_events"
SELECT_GROUPED = (
    f"SELECT seq, ts, case_id, json_array({', '.join(SHARED_FIELDS)}), payload, prev_hash, hash "
    "FROM audit_events"
)
PAGE_ROWS = 1_000
# Upper bound of the memory map; SQLite caps it at its compile-time limit (2 GB by default) and
# reads the rest of a larger file as usual.
SQLITE_MMAP_BYTES = 1 << 40
PREFETCH_PAGES = 2


def read_pages(
    connection: Any, first_seq: int = 1, last_seq: int | None = None, page_rows: int = PAGE_ROWS
) -> Iterator[list[tuple[Any, ...]]]:
    """Events first_seq..last_seq (or to the end) in pages of tuples in COLUMNS order.

    `connection` is a driver connection (sqlite3 or psycopg) inside a snapshot transaction, so
    every page sees the same chain. Memory stays bounded however long the log is. Close the
    iterator (or exhaust it) before using the connection for anything else.
    """
    if isinstance(connection, sqlite3.Connection):
        return _streamed(connection, SELECT, first_seq - 1, last_seq, page_rows)
    return _prefetched(_keyset_pages(connection, first_seq, last_seq, page_rows))


def check_range(
    connection: Any,
    verifier: ChainVerifier,
    last_seq: int | None = None,
    page_rows: int = PAGE_ROWS,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed the events after `verifier`'s last one, to `last_seq` or the end, until a break.

    `progress` is called with the verifier's count after each page.
    """
    if isinstance(connection, sqlite3.Connection):
        grouped = _streamed(connection, SELECT_GROUPED, verifier.last_seq, last_seq, page_rows)
        try:
            for rows in grouped:
                if not verifier.feed_grouped(rows):
                    break
                if progress is not None:
                    progress(verifier.count)
            else:
                return
        except sqlite3.Error:  # e.g. a BLOB where text belongs: json_array refuses it
            pass
        finally:
            grouped.close()
    pages = read_pages(connection, verifier.next_seq, last_seq, page_rows)
    try:
        for rows in pages:
            if verifier.feed(rows) is not None:
                return
            if progress is not None:
                progress(verifier.count)
    finally:
        pages.close()  # type: ignore[attr-defined]


def _streamed(
    connection: sqlite3.Connection, select: str, after_seq: int, last_seq: int | None, page_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows with seq > after_seq (not >= after_seq + 1: a tampered seq need not be an integer)."""
    if last_seq is None:
        cursor = connection.execute(f"{select} WHERE seq > ? ORDER BY seq", (after_seq,))
    else:
        cursor = connection.execute(
            f"{select} WHERE seq > ? AND seq <= ? ORDER BY seq", (after_seq, last_seq)
        )
    try:
        while rows := cursor.fetchmany(page_rows):
            yield rows
    finally:
        cursor.close()


def _keyset_pages(
    connection: Any, first_seq: int, last_seq: int | None, page_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    bound = "" if last_seq is None else " AND seq <= %s"
    sql = f"{SELECT} WHERE seq > %s{bound} ORDER BY seq LIMIT {int(page_rows)}"
    cursor = connection.cursor(binary=True)
    after = first_seq - 1
    try:
        while True:
            cursor.execute(sql, (after,) if last_seq is None else (after, last_seq))
            rows = cursor.fetchall()
            if rows:
                yield rows
            if len(rows) < page_rows:
                return
            after = rows[-1][0]
    finally:
        cursor.close()


_END = object()


def _prefetched(pages: Iterator[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
    """`pages`, read ahead by a thread: the driver waits for the server without the GIL, so
    the server prepares the next page while this thread hashes the current one."""
    ahead: queue.Queue[Any] = queue.Queue(PREFETCH_PAGES)
    stop = threading.Event()

    def read() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        ahead.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(exc)
        finally:
            pages.close()  # type: ignore[attr-defined]
        ahead.put(_END)

    reader = threading.Thread(target=read, name="audit-page-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to put, then let it finish
            with suppress(queue.Empty):
                ahead.get(timeout=0.1)
        reader.join()


@contextmanager
def mapped(connection: Any) -> Iterator[None]:
    """Memory-map a SQLite database file while reading it (restoring the setting afterwards);
    nothing for other drivers."""
    if not isinstance(connection, sqlite3.Connection):
        yield
        return
    (before,) = connection.execute("PRAGMA mmap_size").fetchone()
    connection.execute(f"PRAGMA mmap_size = {SQLITE_MMAP_BYTES}")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA mmap_size = {int(before)}")


def stored_hash(connection: Any, seq: int) -> str | None:
    """The stored hash of the event at `seq` (GENESIS_HASH for 0), or None if there is none."""
    if seq == 0:
        return GENESIS_HASH
    marker = "?" if isinstance(connection, sqlite3.Connection) else "%s"
    row = connection.execute(f"SELECT hash FROM audit_events WHERE seq = {marker}", (seq,)).fetchone()
    return None if row is None else row[0]


def verify_range(
    connection: Any,
    first: int,
    last: int,
    page_rows: int = PAGE_ROWS,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Verify events first..last, starting from the stored hash of event first - 1.

    Returns count, last_seq and last_hash of what verified, the first break if any, and
    `missing_prev` when event first - 1 is not there (the range before must report that gap).
    """
    prev = stored_hash(connection, first - 1)
    if prev is None:
        return {"count": 0, "last_seq": first - 1, "last_hash": None, "broken": None, "missing_prev": True}
    verifier = ChainVerifier(first, prev)
    check_range(connection, verifier, last, page_rows, progress)
    broken = verifier.broken
    return {
        "count": verifier.count,
        "last_seq": verifier.last_seq,
        "last_hash": verifier.last_hash,
        "broken": None
        if broken is None
        else {
            "seq": broken.seq,
            "kind": broken.kind.value,
            "expected": broken.expected,
            "found": broken.found,
        },
        "missing_prev": False,
    }


def _connect(backend: str, target: str) -> Any:
    """A driver connection in a read-only snapshot transaction."""
    if backend == "sqlite":
        connection = sqlite3.connect(target, isolation_level=None, timeout=30)
        connection.execute("BEGIN")  # deferred: a read snapshot in WAL mode, never blocks writers
        return connection
    import psycopg

    connection = psycopg.connect(target)
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    return connection


def main() -> None:
    request = json.loads(sys.stdin.read())
    connection = _connect(request["backend"], request["target"])
    try:

        def report(done: int) -> None:
            print(json.dumps({"done": done}), flush=True)

        with mapped(connection):
            result = verify_range(connection, request["first"], request["last"], request["chunk"], report)
    finally:
        connection.close()
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
