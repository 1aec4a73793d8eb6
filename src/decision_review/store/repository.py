"""Bulk writes of cases and decisions, for the services that decide many cases at once.

Why here: the engine decides a batch of 1 or 1,000,000 cases in one vectorised call; storing
them must also be a few multi-row statements per batch, not one round trip per case. Every
function works inside the caller's transaction and never commits, so a service can put cases,
decisions and their audit events in one transaction (`audit.decisions.record_decided_cases`
does exactly that).

Example:

    >>> with sessions.begin() as session:                                         # doctest: +SKIP
    ...     pks = insert_cases(session, [NewCase("german_credit", "c-1", {"duration": 12})])
    ...     ids = insert_decisions(session, pks, [NewDecision(outcome="approve", score=0.03)])
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Dialect, Table, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from decision_review.errors import InvalidInput
from decision_review.schemas import Outcome
from decision_review.store.jsonvalues import dumps
from decision_review.store.tables import Case, CaseStatus, Decision, DecisionKind, UTCDateTime

SYSTEM = "system"  # the actor of everything the engine does on its own
LOOKUP_CHUNK = 500  # (product, case_id) pairs per lookup query

_cases = Case.__table__
_decisions = Decision.__table__


@dataclass(frozen=True, slots=True)
class VersionRef:
    """Which model or policy produced a decision: name, version and content digest."""

    name: str
    version: str
    digest: str

    @property
    def ref(self) -> str:
        """The short form kept in audit events: ``name@version``."""
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case as submitted: `inputs` are the raw fields (what the model and policy read, plus the
    raw sources of protected attributes); `protected` the derived protected attributes, stored
    apart so that nothing reading inputs picks them up."""

    product: str
    case_id: str
    inputs: Mapping[str, Any]
    protected: Mapping[str, Any] = field(default_factory=dict)
    received_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision on a case, with everything needed to explain it later."""

    outcome: Outcome | str
    kind: DecisionKind | str = DecisionKind.AUTO
    score: float | None = None
    winning_rule: str | None = None
    rule_hits: Sequence[str] = ()
    reasons: Sequence[Mapping[str, Any]] = ()
    model: VersionRef | None = None
    policy: VersionRef | None = None
    decided_by: str = SYSTEM
    note: str | None = None
    error: str | None = None
    explanation: Mapping[str, Any] | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NUL_IN_TEXT = "holds a NUL character (U+0000); no text can hold it"


def clean_inputs(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Inputs as JSON can hold them: NaN and pandas' NA (a missing value) become null.

    Infinity is refused: it is not a missing value, and neither JSON nor JSONB can hold it; so is
    a NUL character in a text (PostgreSQL stores it in no text or JSONB column).
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, float):
            if value != value:
                value = None
            elif math.isinf(value):
                raise InvalidInput(
                    f"{where}: field {name!r} is {value}; give a finite number or leave it empty"
                )
        elif isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"{where}: field {name!r} {NUL_IN_TEXT}")
        elif type(value).__name__ in {"NAType", "NaTType"}:
            value = None
        out[name] = value
    return out


def case_status(outcome: str) -> str:
    """The case status that follows from a decision's outcome."""
    if outcome == Outcome.REVIEW:
        return CaseStatus.IN_REVIEW.value
    if outcome == Outcome.ERROR:
        return CaseStatus.ERROR.value
    return CaseStatus.DECIDED.value


CASE_COLUMNS = ("product", "case_id", "received_at", "inputs", "protected", "status")
DECISION_COLUMNS = (
    "case_pk", "kind", "outcome", "score", "winning_rule", "rule_hits", "reasons", "model_name",
    "model_version", "model_digest", "policy_name", "policy_version", "policy_digest", "decided_by",
    "decided_at", "note", "error", "explanation",
)  # fmt: skip


def insert_cases(
    session: Session,
    cases: Sequence[NewCase],
    *,
    statuses: Sequence[str] | None = None,
    at: dt.datetime | None = None,
) -> list[int]:
    """Insert `cases` in one statement; returns their ids (`cases.id`) in order.

    A (product, case_id) already stored raises the database's unique-constraint error; use
    `existing_case_pks` first when resubmission is expected.
    """
    inputs_json = [dumps(clean_inputs(c.inputs, f"case {c.product}/{c.case_id}")) for c in cases]
    if statuses is None:
        statuses = [CaseStatus.RECEIVED.value] * len(cases)
    return insert_case_rows(session, case_rows(cases, statuses, at or utc_now(), inputs_json))


def case_rows(
    cases: Sequence[NewCase], statuses: Sequence[str], at: dt.datetime, inputs_json: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The `CASE_COLUMNS` values of each case, made before any transaction begins (the write
    lock is held only for the insert). `inputs_json`: each case's inputs cleaned and serialised
    (the audit events quote the same text, so it is made once)."""
    return [
        (case.product, case.case_id, case.received_at or at, inputs, dumps(dict(case.protected)), str(status))
        for case, inputs, status in zip(cases, inputs_json, statuses, strict=True)
    ]


def insert_case_rows(session: Session, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Insert rows made by `case_rows`; returns the new case ids in order."""
    return bulk_insert(session, _cases, CASE_COLUMNS, rows, new_ids=True)


def insert_decisions(
    session: Session,
    case_pks: Sequence[int],
    decisions: Sequence[NewDecision],
    *,
    at: dt.datetime | None = None,
) -> list[int]:
    """Insert one decision per case id in one statement; returns the decision ids."""
    reasons_json = [dumps([dict(r) for r in d.reasons]) for d in decisions]
    return insert_decision_rows(session, case_pks, decision_rows(decisions, at or utc_now(), reasons_json))


def decision_rows(
    decisions: Sequence[NewDecision], at: dt.datetime, reasons_json: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The `DECISION_COLUMNS` values of each decision but its case id (not known before its case
    is inserted); `reasons_json`: each decision's reasons already serialised (see `case_rows`)."""
    return [
        _decision_row(decision, at, reasons)
        for decision, reasons in zip(decisions, reasons_json, strict=True)
    ]


def insert_decision_rows(
    session: Session, case_pks: Sequence[int], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """Insert rows made by `decision_rows`, one per case id; returns the decision ids in order."""
    if len(case_pks) != len(rows):
        raise ValueError(f"{len(case_pks)} case ids for {len(rows)} decisions")
    with_pks = [(pk, *row) for pk, row in zip(case_pks, rows, strict=True)]
    return bulk_insert(session, _decisions, DECISION_COLUMNS, with_pks, new_ids=True)


def _decision_row(d: NewDecision, at: dt.datetime, reasons: str) -> tuple[Any, ...]:
    model, policy = d.model, d.policy
    return (
        str(d.kind),
        str(d.outcome),
        None if d.score is None or d.score != d.score else float(d.score),
        d.winning_rule,
        dumps(list(d.rule_hits)),
        reasons,
        model.name if model else None,
        model.version if model else None,
        model.digest if model else None,
        policy.name if policy else None,
        policy.version if policy else None,
        policy.digest if policy else None,
        d.decided_by,
        at,
        d.note,
        d.error,
        dumps(dict(d.explanation)) if d.explanation is not None else None,
    )


def bulk_insert(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    new_ids: bool = False,
) -> list[int]:
    """Insert `rows` (tuples in `columns` order) into `table` through the driver; with `new_ids`,
    return the `id` given to each row, in order.

    Why not `session.execute(insert(table), dicts)`: SQLAlchemy then runs every value of every
    row through Python-level processing (about 30 us a row here, most of a batch's write time).
    Here values arrive ready: JSON columns as text (serialised once by the caller, with
    `store.jsonvalues.dumps` or the audit log's canonical JSON), datetimes as aware datetimes
    (converted once per distinct value, by the column type's own processor), so SQLite gets one
    `executemany` and PostgreSQL one `COPY`. Driver errors come back as SQLAlchemy's (a unique
    key violation is an `IntegrityError`), in the caller's transaction.

    Ids: PostgreSQL draws them from the table's sequence first; SQLite gives consecutive rowids
    to the rows of one statement (the inserting connection holds the database's write lock from
    its first row to its commit, so no other row can come between), and the last one is read back.
    """
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    rows = _bind_times(table, columns, rows, dialect)
    if dialect.name == "postgresql":
        ids: list[int] = []
        if new_ids:
            ids = list(
                connection.exec_driver_sql(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    (table.name, len(rows)),
                ).scalars()
            )
            columns = ("id", *columns)
            rows = [(i, *row) for i, row in zip(ids, rows, strict=True)]
        _copy_rows(connection, table.name, columns, rows)
        return ids
    marks = ", ".join("?" * len(columns))
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", list(rows)
    )
    if not new_ids:
        return []
    last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def _bind_times(
    table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], dialect: Dialect
) -> list[Sequence[Any]]:
    """Datetime values as their column type binds them (UTC; naive text on SQLite, naive input
    refused), each distinct value converted once: a batch's rows share a handful of times."""
    processors = {
        i: table.c[name].type.bind_processor(dialect)
        for i, name in enumerate(columns)
        if isinstance(table.c[name].type, UTCDateTime)
    }
    if not processors:
        return list(rows)
    converted: dict[tuple[int, Any], Any] = {}
    out: list[Sequence[Any]] = []
    for row in rows:
        values = list(row)
        for i, process in processors.items():
            key = (i, values[i])
            if key not in converted:
                converted[key] = process(values[i]) if process is not None else values[i]
            values[i] = converted[key]
        out.append(tuple(values))
    return out


def _copy_rows(connection: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL's COPY FROM STDIN on the session's own connection (so in its transaction)."""
    import psycopg

    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    raw = connection.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def existing_case_pks(session: Session, product: str, case_ids: Iterable[str]) -> dict[str, int]:
    """Which of `case_ids` are already stored for `product` (case_id -> cases.id)."""
    wanted = list(dict.fromkeys(case_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        query = select(_cases.c.case_id, _cases.c.id).where(
            _cases.c.product == product, _cases.c.case_id.in_(chunk)
        )
        found.update((case_id, pk) for case_id, pk in session.execute(query))
    return found
