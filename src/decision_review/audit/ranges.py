"""Reading and verifying ranges of the chain straight through the database driver.

Used by `log.verify` in its own process, and run as `python -m decision_review.audit.ranges` in
worker processes when a long log is verified in parallel (hashing is CPU-bound Python: one
process uses one core). A worker is a fresh interpreter that imports only this module, the pure
chain rules and the driver, so it starts fast (multiprocessing's spawn would re-import the
caller's __main__, e.g. the whole CLI).

Worker protocol: one JSON request on stdin
``{"backend": "sqlite"|"postgresql", "target": path or libpq URL, "first": n, "last": m, "chunk": k}``;
progress lines ``{"done": n}`` on stdout after each page, then ``{"result": {...}}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from decision_review.audit.chain import COLUMNS, GENESIS_HASH, ChainVerifier

SELECT = f"SELECT {', '.join(COLUMNS)} FROM audit_events"


def read_pages(
    cursor: Any, marker: str, first_seq: int, last_seq: int | None, chunk_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Events first_seq..last_seq (or to the end) in keyset pages of tuples in COLUMNS order.

    `marker` is the driver's parameter placeholder (``?`` for sqlite3, ``%s`` for psycopg).
    Keyset pages over the primary key keep memory bounded however long the log is.
    """
    after = first_seq - 1
    if last_seq is None:
        sql = f"{SELECT} WHERE seq > {marker} ORDER BY seq LIMIT {marker}"
        params: Callable[[int], tuple[int, ...]] = lambda a: (a, chunk_size)  # noqa: E731
    else:
        sql = f"{SELECT} WHERE seq > {marker} AND seq <= {marker} ORDER BY seq LIMIT {marker}"
        params = lambda a: (a, last_seq, chunk_size)  # noqa: E731
    while True:
        cursor.execute(sql, params(after))
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]
        if len(rows) < chunk_size:
            return


def verify_range(
    cursor: Any,
    marker: str,
    first: int,
    last: int,
    chunk_size: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Verify events first..last, starting from the stored hash of event first - 1.

    Returns count, last_seq and last_hash of what verified, the first break if any, and
    `missing_prev` when event first - 1 is not there (the range before must report that gap).
    """
    if first == 1:
        prev = GENESIS_HASH
    else:
        cursor.execute(f"SELECT hash FROM audit_events WHERE seq = {marker}", (first - 1,))
        row = cursor.fetchone()
        if row is None:
            return {
                "count": 0,
                "last_seq": first - 1,
                "last_hash": None,
                "broken": None,
                "missing_prev": True,
            }
        prev = row[0]
    verifier = ChainVerifier(first, prev)
    for rows in read_pages(cursor, marker, first, last, chunk_size):
        if verifier.feed(rows) is not None:
            break
        if progress is not None:
            progress(verifier.count)
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


def _connect(backend: str, target: str) -> tuple[Any, str]:
    """A driver connection in a read-only snapshot transaction, and its placeholder."""
    if backend == "sqlite":
        import sqlite3

        connection = sqlite3.connect(target, isolation_level=None, timeout=30)
        connection.execute("BEGIN")  # deferred: a read snapshot in WAL mode, never blocks writers
        return connection, "?"
    import psycopg

    connection = psycopg.connect(target)
    connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    connection.read_only = True
    return connection, "%s"


def main() -> None:
    request = json.loads(sys.stdin.read())
    connection, marker = _connect(request["backend"], request["target"])
    try:
        cursor = connection.cursor()

        def report(done: int) -> None:
            print(json.dumps({"done": done}), flush=True)

        result = verify_range(cursor, marker, request["first"], request["last"], request["chunk"], report)
    finally:
        connection.close()
    print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    main()
