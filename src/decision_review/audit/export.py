"""Exports of the audit log for compliance, and checking an export directory.

An export is a directory with one events file (JSON Lines, CSV or Parquet) and `manifest.json`
(range, count, first and last sequence number, the hash of the event before the range, the last
hash, the log's head at export time, file digests, export time, tool version). The format and a
stdlib-only verification script are in docs/audit-export.md; `verify_export` here performs the
same checks.

Why an export of a date range is still verifiable: `ts` never goes backwards along the chain
(the log enforces it), so a date range is one contiguous run of sequence numbers; the manifest
gives the hash of the event just before it, from which the whole piece is recomputed. Filtering
by case or kind gives events that each still prove their own content (their hash recomputes) and
link wherever they are consecutive; the manifest marks such an export `contiguous: false`.

Example:

    >>> manifest = export_events(engine, Path("exports/2024-05"), start="2024-05-01",
    ...                          end="2024-05-31", fmt=ExportFormat.JSONL)    # doctest: +SKIP
    >>> verify_export(Path("exports/2024-05")).ok                           # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from decision_review import __version__
from decision_review.audit.chain import (
    COLUMNS,
    TS_FORMAT,
    Break,
    BreakKind,
    ChainVerifier,
    EventKind,
    canonical_json,
)
from decision_review.audit.log import NewEvent, StoredEvent, append_one, hash_at, iter_chunks, read_head
from decision_review.errors import InvalidInput
from decision_review.store.db import snapshot
from decision_review.store.tables import AuditEvent

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
EXPORT_CHUNK = 20_000
_events = AuditEvent.__table__


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


EVENTS_FILE = {
    ExportFormat.JSONL: "events.jsonl",
    ExportFormat.CSV: "events.csv",
    ExportFormat.PARQUET: "events.parquet",
}


def parse_bound(text: str | None, *, end: bool = False, label: str | None = None) -> str | None:
    """A --from/--to value as the UTC text `ts` is compared with.

    Accepts a date (``2024-05-01``) or an ISO-8601 time (``2024-05-01T12:00:00+02:00``; without
    an offset it is UTC). A date given as the end includes that whole day. `label` names the
    value in the error (default: the CLI's --from/--to).
    """
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + (
                dt.timedelta(days=1) if end else dt.timedelta()
            )
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput(
            f"{label or ('--to' if end else '--from')} {text!r} is not a date (2024-05-01) or an "
            "ISO-8601 time (2024-05-01T12:00:00Z)"
        ) from None
    return moment.astimezone(dt.UTC).strftime(TS_FORMAT)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Writers: each takes chunks of rows in COLUMNS order (payload as canonical text).


def _jsonl_line(row: tuple[Any, ...]) -> str:
    seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev_hash, digest = row
    enc = encode_basestring

    def opt(value: str | None) -> str:
        return "null" if value is None else enc(value)

    return (
        f'{{"seq":{seq},"ts":{enc(ts)},"actor":{enc(actor)},"kind":{enc(kind)},"product":{opt(product)},'
        f'"case_id":{opt(case_id)},"policy_ref":{opt(policy_ref)},"model_ref":{opt(model_ref)},'
        f'"payload":{payload},"prev_hash":{enc(prev_hash)},"hash":{enc(digest)}}}\n'
    )


def _write_jsonl(path: Path, chunks: Iterator[list[tuple[Any, ...]]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for rows in chunks:
            handle.write("".join(map(_jsonl_line, rows)))
            count += len(rows)
    return count


_NEEDS_QUOTES = re.compile(r'[",\r\n]').search


def _csv_field(value: Any) -> str:
    """One CSV cell as RFC 4180 (and Python's csv module) write it; None is an empty cell."""
    if value is None:
        return ""
    text = str(value)
    if _NEEDS_QUOTES(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_csv(path: Path, chunks: Iterator[list[tuple[Any, ...]]]) -> int:
    # Written by hand: csv.writer is several times slower on long JSON cells full of quotes. Same
    # format (minimal quoting, "" for a quote, empty cell for null), except that a lone \r is
    # quoted too, which csv.writer leaves bare and csv.reader then takes for a line end.
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(COLUMNS) + "\n")
        for rows in chunks:
            handle.write("".join(",".join(map(_csv_field, row)) + "\n" for row in rows))
            count += len(rows)
    return count


def _write_parquet(path: Path, chunks: Iterator[list[tuple[Any, ...]]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("seq", pa.int64())] + [(name, pa.string()) for name in COLUMNS[1:]])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        for rows in chunks:
            columns = list(zip(*rows, strict=True))
            writer.write_table(
                pa.Table.from_arrays(
                    [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
                )
            )
            count += len(rows)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


WRITERS: dict[ExportFormat, Callable[[Path, Iterator[list[tuple[Any, ...]]]], int]] = {
    ExportFormat.JSONL: _write_jsonl,
    ExportFormat.CSV: _write_csv,
    ExportFormat.PARQUET: _write_parquet,
}


# ---------------------------------------------------------------------------------------------
# Export


def _seq_range(connection: Connection, start: str | None, end: str | None) -> tuple[int, int] | None:
    """First and last seq of the events with start <= ts < end: one contiguous run (ts is monotone)."""
    first_q = select(func.min(_events.c.seq))
    last_q = select(func.max(_events.c.seq))
    if start is not None:
        first_q = first_q.where(_events.c.ts >= start)
        last_q = last_q.where(_events.c.ts >= start)
    if end is not None:
        first_q = first_q.where(_events.c.ts < end)
        last_q = last_q.where(_events.c.ts < end)
    first = connection.execute(first_q).scalar_one_or_none()
    last = connection.execute(last_q).scalar_one_or_none()
    if first is None or last is None:
        return None
    return first, last


def _filtered_chunks(
    connection: Connection, first: int, last: int, filters: dict[str, str], chunk_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    after = first - 1
    columns = [_events.c[name] for name in COLUMNS]
    while True:
        query = select(*columns).where(_events.c.seq > after, _events.c.seq <= last)
        for name, value in filters.items():
            query = query.where(_events.c[name] == value)
        rows = [tuple(row) for row in connection.execute(query.order_by(_events.c.seq).limit(chunk_size))]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def export_events(
    engine: Engine,
    out_dir: Path,
    *,
    start: str | None = None,
    end: str | None = None,
    product: str | None = None,
    case_id: str | None = None,
    kind: EventKind | str | None = None,
    fmt: ExportFormat | str = ExportFormat.JSONL,
    chunk_size: int = EXPORT_CHUNK,
    names: tuple[str, str, str] = ("--from", "--to", "--kind"),
) -> dict[str, Any]:
    """Write the events with start <= ts < end (optionally one case or kind) and a manifest.

    `start`/`end` are dates or ISO-8601 times (see `parse_bound`). `names`: what the caller's user
    calls start, end and kind, for the errors (the CLI's flags; the API's fields). The directory
    must not exist or be empty; files are written to a temporary sibling and moved into place at
    the end, so an interrupted export leaves nothing half-written. Returns the manifest.
    """
    fmt = ExportFormat(fmt)
    if kind is not None:
        try:
            kind = EventKind(kind)
        except ValueError:
            raise InvalidInput(
                f"{names[2]} {kind!r} is not an event kind; known: {', '.join(EventKind)}"
            ) from None
    start_text = parse_bound(start, label=names[0])
    end_text = parse_bound(end, end=True, label=names[1])
    if start_text is not None and end_text is not None and start_text >= end_text:
        raise InvalidInput(f"the range is empty: {names[0]} {start} is not before {names[1]} {end}")
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InvalidInput(f"{out_dir} already exists and is not an empty directory; choose a new --out")
    filters = {
        name: str(value)
        for name, value in (("product", product), ("case_id", case_id), ("kind", kind))
        if value
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        manifest = _write_export(engine, work, fmt, start_text, end_text, filters, chunk_size)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _write_export(
    engine: Engine,
    work: Path,
    fmt: ExportFormat,
    start: str | None,
    end: str | None,
    filters: dict[str, str],
    chunk_size: int,
) -> dict[str, Any]:
    events_path = work / EVENTS_FILE[fmt]
    firsts: list[int] = []  # seq of the first event written
    lasts: list[tuple[int, str]] = []  # (seq, hash) of the last event written

    def tracked(source: Iterator[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
        for rows in source:
            firsts[:] = firsts or [rows[0][0]]
            lasts[:] = [(rows[-1][0], rows[-1][10])]
            yield rows

    with snapshot(engine) as connection:
        head = read_head(connection)
        seq_range = _seq_range(connection, start, end)
        chunks: Iterator[list[tuple[Any, ...]]] = iter(())
        if seq_range is not None:
            first, last = seq_range
            if filters:
                chunks = _filtered_chunks(connection, first, last, filters, chunk_size)
            else:
                chunks = iter_chunks(connection, first, last, chunk_size)
        count = WRITERS[fmt](events_path, tracked(chunks))
        first_seq = firsts[0] if firsts else None
        prev_hash = hash_at(connection, first_seq - 1) if first_seq is not None else None
    last_seq, last_hash = lasts[0] if lasts else (None, None)
    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "decision-review",
        "tool_version": __version__,
        "exported_at": dt.datetime.now(dt.UTC).strftime(TS_FORMAT),
        "format": fmt.value,
        "range": {"from": start, "to": end},
        "filters": filters,
        "contiguous": not filters,
        "count": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "prev_hash": prev_hash,
        "last_hash": last_hash,
        "chain_head": {"seq": head.seq, "hash": head.hash},
        "hash_rule": "sha256(prev_hash + canonical_json(event without hash)); docs/audit-export.md",
        "files": [
            {
                "name": events_path.name,
                "sha256": _file_digest(events_path),
                "bytes": events_path.stat().st_size,
                "rows": count,
            }
        ],
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def record_export(session: Session, out_dir: Path, actor: str) -> StoredEvent:
    """Append the `export_made` event for a finished export (the caller commits).

    The event keeps the manifest's own sha256 besides its main claims, so the live log can later
    prove that an export's manifest was not edited after it was made.
    """
    manifest_path = Path(out_dir) / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    keys = ("format", "range", "filters", "count", "first_seq", "last_seq", "prev_hash", "last_hash")
    payload = {key: manifest[key] for key in keys}
    payload["files"] = [{"name": f["name"], "sha256": f["sha256"]} for f in manifest["files"]]
    payload["manifest_sha256"] = _file_digest(manifest_path)
    payload["out_dir"] = str(Path(out_dir).resolve())
    return append_one(session, NewEvent(EventKind.EXPORT_MADE, actor=actor, payload=payload))


# ---------------------------------------------------------------------------------------------
# Verify an export


@dataclass(frozen=True, slots=True)
class ExportCheck:
    """Result of checking an export directory: OK, or the first problem (and where)."""

    ok: bool
    count: int
    problem: str | None = None
    broken: Break | None = None

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} events; intact, and linked into the chain as the manifest states"
        return f"BROKEN: {self.problem}"


def _read_rows(path: Path, fmt: ExportFormat) -> Iterator[tuple[Any, ...]]:
    """Rows of an events file in COLUMNS order, the payload re-canonicalised from its JSON."""
    if fmt is ExportFormat.JSONL:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                event = json.loads(line)
                if not isinstance(event, dict) or event.keys() != set(COLUMNS):
                    raise ValueError(f"line {number}: fields are not {', '.join(COLUMNS)}")
                yield tuple(
                    canonical_json(event.get("payload")) if name == "payload" else event.get(name)
                    for name in COLUMNS
                )
    elif fmt is ExportFormat.CSV:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            if tuple(next(reader, ())) != COLUMNS:
                raise ValueError(f"the header of {path.name} is not {','.join(COLUMNS)}")
            for cells in reader:
                values: list[Any] = [cell if cell != "" else None for cell in cells]
                values[0] = int(cells[0])
                values[8] = canonical_json(json.loads(cells[8]))
                yield tuple(values)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if tuple(table.column_names) != COLUMNS:
            raise ValueError(f"the columns of {path.name} are not {','.join(COLUMNS)}")
        for batch in table.to_batches():
            for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                row = list(values)
                row[8] = canonical_json(json.loads(row[8]))
                yield tuple(row)


def verify_export(directory: Path) -> ExportCheck:
    """Check an export directory: file digests, the chain inside it, and the manifest's claims."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        fmt = ExportFormat(manifest["format"])
        files = manifest["files"]
    except FileNotFoundError:
        return ExportCheck(False, 0, f"{directory / MANIFEST} is missing")
    except (ValueError, KeyError, TypeError) as exc:
        return ExportCheck(False, 0, f"{MANIFEST} is not a valid manifest: {exc}")
    for entry in files:
        path = directory / entry["name"]
        if not path.is_file():
            return ExportCheck(False, 0, f"{entry['name']} is listed in the manifest but missing")
        found = _file_digest(path)
        if found != entry["sha256"]:
            return ExportCheck(
                False,
                0,
                f"{entry['name']}: sha256 is {found}, the manifest says {entry['sha256']} (edited)",
            )
    try:
        return _check_events(directory / EVENTS_FILE[fmt], fmt, manifest)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return ExportCheck(False, 0, f"{EVENTS_FILE[fmt]} cannot be read as an export: {exc}")


def _check_events(path: Path, fmt: ExportFormat, manifest: dict[str, Any]) -> ExportCheck:
    """Walk the events file once. Contiguous exports are one piece of the chain, recomputed from
    the manifest's prev_hash; filtered ones must prove each event and link consecutive ones."""
    contiguous = bool(manifest["contiguous"])
    first_seq, prev_hash = manifest["first_seq"], manifest["prev_hash"]
    start, end = manifest["range"]["from"], manifest["range"]["to"]
    count = 0
    last: tuple[int, str] | None = None
    for row in _read_rows(path, fmt):
        line = count + 1
        seq, ts, stored_prev = row[0], row[1], row[9]
        if count == 0:
            expected_seq, expected_prev = first_seq, prev_hash
        elif contiguous or seq == last[0] + 1:  # type: ignore[index]
            expected_seq, expected_prev = last[0] + 1, last[1]  # type: ignore[index]
        elif seq <= last[0]:  # type: ignore[index]
            brk = Break(last[0] + 1, BreakKind.SEQUENCE_GAP, f"> {last[0]}", str(seq))  # type: ignore[index]
            return ExportCheck(False, count, f"line {line}: {brk.describe()}", brk)
        else:
            expected_seq, expected_prev = seq, stored_prev  # a gap the filter explains
        verifier = ChainVerifier(expected_seq, expected_prev)
        if verifier.feed((row,)) is not None:
            return ExportCheck(False, count, f"line {line}: {verifier.broken.describe()}", verifier.broken)  # type: ignore[union-attr]
        if (start is not None and ts < start) or (end is not None and ts >= end):
            return ExportCheck(
                False, count, f"line {line}: seq {seq} has ts {ts}, outside the manifest's range"
            )
        count += 1
        last = (seq, row[10])
    return _check_manifest_claims(manifest, count, last)


def _check_manifest_claims(manifest: dict[str, Any], count: int, last: tuple[int, str] | None) -> ExportCheck:
    rows = manifest["files"][0].get("rows")
    if count != manifest["count"] or (rows is not None and rows != count):
        return ExportCheck(
            False, count, f"the file holds {count} events, the manifest says {manifest['count']}"
        )
    if last is None:
        if manifest["first_seq"] is not None or manifest["last_seq"] is not None:
            return ExportCheck(False, 0, "the file holds no events but the manifest names a sequence range")
        return ExportCheck(True, 0)
    if last[0] != manifest["last_seq"]:
        return ExportCheck(
            False,
            count,
            f"the last event is seq {last[0]}, the manifest says {manifest['last_seq']} (truncated?)",
        )
    if last[1] != manifest["last_hash"]:
        return ExportCheck(
            False, count, f"the last hash is {last[1]}, the manifest says {manifest['last_hash']}"
        )
    if manifest["chain_head"]["seq"] < last[0]:
        return ExportCheck(False, count, "the manifest's chain_head is before the last exported event")
    return ExportCheck(True, count)
