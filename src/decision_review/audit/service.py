"""Audit for the API: search events, verify the chain, export a range as a zip (each audited).

Why a service beside `log` and `export`: the API adds two things the CLI does not need, product
line limits (a compliance officer limited to some product lines sees and exports only theirs) and
packaging an export directory as one download.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, exists, select
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.export import ExportFormat, export_events, parse_bound, record_export
from decision_review.audit.log import VerifyReport, find_events, record_verification, verify
from decision_review.errors import InvalidInput, NotFound
from decision_review.products.service import published_products
from decision_review.store.db import snapshot
from decision_review.store.tables import MAX_BIGINT, AuditEvent

MAX_SEARCH = 1000
MAX_SEQ = MAX_BIGINT

_events = AuditEvent.__table__


def known_product(session: Session | Connection, product: str | None) -> str | None:
    """`product` when the log can hold its events (a policy was published for it, or it has events);
    NotFound naming the product lines otherwise: a mistyped one would search or export nothing
    and say nothing, and an empty export reads as "no such events"."""
    if product is None:
        return None
    published = published_products(session)
    if product in published or session.scalar(select(exists().where(_events.c.product == product))):
        return product
    raise NotFound(
        f"no product line {product!r} in the audit log; product lines: {', '.join(published) or 'none'}"
    )


def search(
    session: Session,
    *,
    product: str | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Events matching every filter, in chain order, `limit` after `after_seq` (keyset paging)."""
    if kind is not None and kind not in {k.value for k in EventKind}:
        raise InvalidInput(f"kind {kind!r} is not an event kind; kinds: {', '.join(EventKind)}")
    events = find_events(
        session,
        product=known_product(session, product),
        case_id=case_id,
        kind=kind,
        actor=actor,
        since=parse_bound(since, label="since"),
        until=parse_bound(until, end=True, label="until"),
        after_seq=after_seq,
        limit=min(max(limit, 1), MAX_SEARCH),
    )
    return [e.as_dict() for e in events]


def next_after(events: Sequence[Mapping[str, Any]], limit: int) -> int | None:
    """Where the next page of a search starts: the last event's seq when the page came back full,
    None when there is nothing more."""
    return events[-1]["seq"] if len(events) == limit else None


def verify_chain(engine: Engine, session_factory: Any, actor: str) -> VerifyReport:
    """Walk the whole chain, then record the run (a `verification_run` event)."""
    report = verify(engine)
    with session_factory() as session:
        record_verification(session, report, actor)
    return report


def export_zip(
    engine: Engine,
    session_factory: Any,
    exports_dir: Path,
    *,
    actor: str,
    start: str | None = None,
    end: str | None = None,
    product: str | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    fmt: ExportFormat | str = ExportFormat.JSONL,
) -> tuple[bytes, dict[str, Any], str]:
    """Export (directory kept under `exports_dir`), record the `export_made` event, and return the
    directory zipped (manifest.json and the events file at the top level), the manifest and a name."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"audit-export-{stamp}-{uuid.uuid4().hex[:8]}"
    out_dir = Path(exports_dir) / name
    with snapshot(engine) as connection:  # a read: no write lock taken for it
        known_product(connection, product)
    manifest = export_events(
        engine, out_dir, start=start, end=end, product=product, case_id=case_id, kind=kind, fmt=fmt,
        names=("from", "to", "kind"),
    )  # fmt: skip
    with session_factory() as session:
        record_export(session, out_dir, actor)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(out_dir.iterdir()):
            archive.write(path, arcname=path.name)
    return buffer.getvalue(), manifest, name
