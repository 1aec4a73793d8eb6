"""Submitting cases: decide them, store case, decision, review item and audit events together.

One path for one case and for a hundred thousand (an online request is a batch of one):

1. look up which of the submitted ids are already stored (one read transaction);
2. an id stored with the same inputs is a *duplicate*: its stored decision is returned and
   nothing is written (idempotency on the caller's case id); an id stored with different inputs is
   a *conflict*, refused and named;
3. the new cases are decided in one vectorised engine call, outside any transaction (so the write
   lock is not held while scoring);
4. each chunk of new cases is written in one transaction: cases, decisions (with their
   explanations), review items for the cases sent to review, then the `case_received` and
   `decision_made` events, appended last. Either all of a chunk exists or none of it.

A case the engine could not decide (outcome ``error``: its data failed the model's contract and
the policy says ``on_invalid_input: error``) is returned as *invalid* with the reason and not
stored, so the caller can correct it and submit it again under the same id.

Two submissions of the same new id racing each other: the database's unique key lets one win;
the other's transaction fails, is retried once, and then finds the case stored (a duplicate).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import operator
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError
from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.decisions import append_decided, insert_decided, prepare_decided
from decision_review.audit.log import NewEvent, append
from decision_review.cases import repository
from decision_review.errors import Conflict, InvalidInput, NotFound
from decision_review.schemas import Outcome, ProtectedAttribute
from decision_review.store.repository import (
    NewCase,
    NewDecision,
    VersionRef,
    bulk_insert,
    clean_inputs,
    utc_now,
)
from decision_review.store.tables import OutcomeLabel, ReviewItem, ReviewState

if TYPE_CHECKING:
    import pandas as pd

    from decision_review.engine import ExplainMode
    from decision_review.products.service import LiveProduct

_items = ReviewItem.__table__
_outcomes = OutcomeLabel.__table__

Status = Literal["created", "duplicate", "conflict", "invalid"]


class Transactions(Protocol):
    """Where services get sessions: `read()` for lookups, `write()` for one atomic change."""

    def read(self) -> AbstractContextManager[Session]: ...

    def write(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True, slots=True)
class DecisionView:
    """A case's current decision as the submitter sees it."""

    outcome: str
    kind: str
    score: float | None
    winning_rule: str | None
    rule_hits: list[str]
    reason: str | None
    reasons: list[dict[str, Any]]
    decided_by: str
    decided_at: dt.datetime
    policy: dict[str, str] | None
    model: dict[str, str] | None
    queue: str | None = None
    priority: int | None = None
    review_state: str | None = None
    sla_due_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What happened to one submitted case."""

    case_id: str
    status: Status
    decision: DecisionView | None = None
    error: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"


# ---------------------------------------------------------------------------------------------
# Submission


def submit_cases(
    tx: Transactions,
    live: LiveProduct,
    frame: pd.DataFrame,
    *,
    actor: str,
    explain: ExplainMode = "needed",
    conflicts: Literal["reject", "report"] = "reject",
    chunk_size: int = 5_000,
    now: dt.datetime | None = None,
    records: Sequence[Mapping[str, Any]] | None = None,
) -> list[CaseResult]:
    """Decide and store the cases of `frame` (one row per case, distinct ids); one result per row.

    `conflicts="reject"` refuses the whole submission (nothing written) when any id is stored
    with different inputs; ``"report"`` returns those cases as conflicts and stores the rest.
    `records`, when the caller has them, are the same cases as dicts checked by
    `validation.validate_case` (read instead of decomposing and cleaning the frame again: pandas'
    row access is slow for small batches, and a checked case is clean already).
    """
    id_field = live.id_field
    if id_field not in frame.columns:
        raise InvalidInput(f"the cases have no {id_field!r} column: every case needs its own id")
    ids = [str(v) for v in _values(frame, id_field)]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = sorted({i for i in ids if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
        raise InvalidInput(
            f"case ids must be distinct within a submission; repeated: {', '.join(repeated[:10])}"
        )
    if records is None:
        inputs = _inputs_of(frame, id_field)
    else:
        inputs = [{k: v for k, v in r.items() if k != id_field} for r in records]

    with tx.read() as session:
        stored = repository.stored_cases(session, live.product, ids)
    duplicates, conflicting = _classify(ids, inputs, stored)
    if conflicting and conflicts == "reject":
        raise Conflict(_conflict_message(live.product, conflicting))

    results: dict[str, CaseResult] = {case_id: _conflict(case_id, live.product) for case_id in conflicting}
    new_positions = [i for i, case_id in enumerate(ids) if case_id not in stored]
    if new_positions:
        results.update(
            _decide_and_store(tx, live, frame, ids, inputs, new_positions, actor, explain, chunk_size, now)
        )
    if duplicates:
        results.update(_stored_results(tx, live.product, duplicates))
    return [results[case_id] for case_id in ids]


def _inputs_of(frame: pd.DataFrame, id_field: str) -> list[dict[str, Any]]:
    names = [c for c in frame.columns if c != id_field]
    columns = [frame[name].tolist() for name in names]
    return [
        clean_inputs(dict(zip(names, values, strict=True)), f"case {case_id!r}")
        for case_id, *values in zip(frame[id_field].tolist(), *columns, strict=True)
    ]


def _classify(
    ids: Sequence[str], inputs: Sequence[dict[str, Any]], stored: Mapping[str, repository.StoredCase]
) -> tuple[dict[str, int], list[str]]:
    """Stored ids with the same inputs (duplicates: case_id -> pk) and with different ones (conflicts)."""
    duplicates: dict[str, int] = {}
    conflicting: list[str] = []
    for case_id, case_inputs in zip(ids, inputs, strict=True):
        found = stored.get(case_id)
        if found is None:
            continue
        if _same_inputs(found.inputs, case_inputs):
            duplicates[case_id] = found.pk
        else:
            conflicting.append(case_id)
    return duplicates, conflicting


def _same_inputs(stored: Mapping[str, Any], submitted: Mapping[str, Any]) -> bool:
    """Equal as values (12 and 12.0 are the same); an absent field equals a null one."""
    keys = set(stored) | set(submitted)
    return all(stored.get(k) == submitted.get(k) for k in keys)


def _conflict_message(product: str, case_ids: Sequence[str]) -> str:
    shown = ", ".join(repr(c) for c in case_ids[:10])
    more = f" and {len(case_ids) - 10} more" if len(case_ids) > 10 else ""
    return (
        f"case id(s) {shown}{more} of product line {product!r} were already submitted with different "
        "inputs; a case id is submitted once (a retry must send the same inputs), so use a new id "
        "for a new case"
    )


def _conflict(case_id: str, product: str) -> CaseResult:
    return CaseResult(case_id, "conflict", error=_conflict_message(product, [case_id]))


@dataclass
class _Prepared:
    """New cases of one submission, decided and ready to write (error rows already taken out)."""

    cases: list[NewCase]
    decisions: list[NewDecision]
    routes: list[dict[str, Any] | None]  # review item fields, for cases sent to review
    views: list[DecisionView]


def _decide_and_store(
    tx: Transactions,
    live: LiveProduct,
    frame: pd.DataFrame,
    ids: list[str],
    inputs: list[dict[str, Any]],
    positions: list[int],
    actor: str,
    explain: ExplainMode,
    chunk_size: int,
    now: dt.datetime | None,
) -> dict[str, CaseResult]:
    subset = frame if len(positions) == len(frame) else frame.iloc[positions].reset_index(drop=True)
    decided = live.engine.decide(subset, explain=explain, auto_decisions=live.auto_decisions)
    attributes = live.engine.model.contract.protected
    protected = [protected_groups(inputs[i], attributes) for i in positions]
    now = now or utc_now()
    prepared, invalid = _prepare(
        live, decided, [ids[i] for i in positions], [inputs[i] for i in positions], protected, actor, now
    )
    results: dict[str, CaseResult] = {r.case_id: r for r in invalid}
    for start in range(0, len(prepared.cases), chunk_size):
        chunk = slice(start, start + chunk_size)
        results.update(_write_chunk(tx, live, prepared, chunk, actor, now))
    return results


def protected_groups(inputs: Mapping[str, Any], attributes: Sequence[ProtectedAttribute]) -> dict[str, str]:
    """The protected groups of one case, exactly as `datasets.base.derive_protected` derives them
    for a frame (a test holds the two together): a missing, unmapped or out-of-bin value is
    "unknown". Per case, because building a frame for one case costs more than deriving it."""
    out = {}
    for attr in attributes:
        value = inputs.get(attr.source)
        group: str | None = None
        if value is not None and not (isinstance(value, float) and value != value):
            if attr.mapping is not None:
                group = attr.mapping.get(str(value))
            elif attr.bins is not None and attr.labels is not None:
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = math.nan
                if number == number:
                    position = bisect.bisect_right(attr.bins, number) - 1
                    group = attr.labels[position] if 0 <= position < len(attr.labels) else None
            else:
                group = _as_text(value)
        out[attr.name] = group if group is not None else "unknown"
    return out


def _as_text(value: Any) -> str:
    """How pandas' string dtype writes a value: whole floats keep their '.0'."""
    return str(value)


def _prepare(
    live: LiveProduct,
    decided: Any,
    ids: list[str],
    inputs: list[dict[str, Any]],
    protected: list[dict[str, Any]],
    actor: str,
    now: dt.datetime,
) -> tuple[_Prepared, list[CaseResult]]:
    frame = decided.frame
    engine = live.engine
    model_ref = VersionRef(engine.model.name, str(engine.model.version), engine.model.digest)
    policy_ref = VersionRef(engine.policy.name, str(engine.policy.version), engine.policy.digest)
    queues = engine.policy.spec.queues
    columns = {
        name: _values(frame, name)
        for name in ("outcome", "score", "winning_rule", "reason", "queue", "priority", "error")
    }
    hits = [list(h) if h is not None else [] for h in _values(frame, "rule_hits")]
    reasons = _reason_lists(frame)
    explanations = _explanations(decided)
    prepared = _Prepared([], [], [], [])
    invalid: list[CaseResult] = []
    for i, case_id in enumerate(ids):
        outcome = columns["outcome"][i]
        if outcome == Outcome.ERROR:
            message = columns["error"][i] or "the case's data failed validation"
            invalid.append(CaseResult(case_id, "invalid", error=f"case {case_id!r}: {message}"))
            continue
        score = _number(columns["score"][i])
        decision = NewDecision(
            outcome=outcome,
            score=score,
            winning_rule=columns["winning_rule"][i],
            rule_hits=hits[i],
            reasons=reasons[i],
            model=model_ref,
            policy=policy_ref,
            explanation=explanations.get(i),
        )
        route = None
        if outcome == Outcome.REVIEW:
            queue = columns["queue"][i]
            priority = int(columns["priority"][i])
            route = {
                "queue": queue,
                "priority": priority,
                "winning_rule": columns["winning_rule"][i],
                "reason": columns["reason"][i],
                "sla_due_at": now + queues[queue].sla,
            }
        prepared.cases.append(NewCase(live.product, case_id, inputs[i], protected[i], received_at=now))
        prepared.decisions.append(decision)
        prepared.routes.append(route)
        prepared.views.append(
            DecisionView(
                outcome=outcome,
                kind="auto",
                score=score,
                winning_rule=decision.winning_rule,
                rule_hits=hits[i],
                reason=columns["reason"][i],
                reasons=reasons[i],
                decided_by=decision.decided_by,
                decided_at=now,
                policy={"name": policy_ref.name, "version": policy_ref.version},
                model={"name": model_ref.name, "version": model_ref.version},
                queue=route["queue"] if route else None,
                priority=route["priority"] if route else None,
                review_state=ReviewState.QUEUED.value if route else None,
                sla_due_at=route["sla_due_at"] if route else None,
            )
        )
    return prepared, invalid


def _values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column of the decisions frame as a list, a missing value as None.

    Arrow-backed columns (text, lists, nullable integers) are read through Arrow: pandas' own
    `tolist` costs ~0.1 ms per column whatever its length, which made reading the ~25 columns
    a fifth of a small group's time."""
    array = frame[name].array
    if hasattr(array, "__arrow_array__"):
        return array.__arrow_array__().to_pylist()
    return array.tolist()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def _reason_lists(frame: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """reason_k_* columns as one list of {field, code, text, contribution} per row."""
    k = 1
    parts = []
    while f"reason_{k}_field" in frame.columns:
        parts.append([_values(frame, f"reason_{k}_{p}") for p in ("field", "code", "text", "contribution")])
        k += 1
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(frame))]
    for fields, codes, texts, contributions in parts:
        for i, name in enumerate(fields):
            if isinstance(name, str):
                out[i].append(
                    {
                        "field": name,
                        "code": codes[i],
                        "text": texts[i],
                        "contribution": float(contributions[i]),
                    }
                )
    return out


def _explanations(decided: Any) -> dict[int, dict[str, Any]]:
    """Full SHAP contributions per explained row (position -> explanation)."""
    contributions = decided.contributions
    if contributions is None or len(contributions) == 0:
        return {}
    reference = decided.explainer.get("reference")
    names = [str(c) for c in contributions.columns]
    base = decided.base_values.reindex(contributions.index).to_numpy().tolist()
    rows = contributions.to_numpy(dtype=float).tolist()  # numpy, not to_dict: 50x faster on small frames
    return {
        int(label): {
            "base_value": float(base_value),
            "reference": reference,
            "contributions": dict(zip(names, values, strict=True)),
        }
        for label, base_value, values in zip(contributions.index.tolist(), base, rows, strict=True)
    }


def _write_chunk(
    tx: Transactions,
    live: LiveProduct,
    prepared: _Prepared,
    chunk: slice,
    actor: str,
    now: dt.datetime,
) -> dict[str, CaseResult]:
    """Store one chunk in one transaction; on a lost race for an id, retry once without it."""
    cases, decisions = prepared.cases[chunk], prepared.decisions[chunk]
    routes, views = prepared.routes[chunk], prepared.views[chunk]
    try:
        _store(tx, live.product, cases, decisions, routes, actor, now)
        return {c.case_id: CaseResult(c.case_id, "created", v) for c, v in zip(cases, views, strict=True)}
    except DatabaseIntegrityError:
        pass
    # Another submission stored some of these ids between our lookup and our write.
    with tx.read() as session:
        stored = repository.stored_cases(session, live.product, [c.case_id for c in cases])
    keep = [i for i, c in enumerate(cases) if c.case_id not in stored]
    results: dict[str, CaseResult] = {}
    duplicates, conflicting = _classify(
        [c.case_id for c in cases if c.case_id in stored],
        [clean_inputs(c.inputs, "case") for c in cases if c.case_id in stored],
        stored,
    )
    results.update({case_id: _conflict(case_id, live.product) for case_id in conflicting})
    if duplicates:
        results.update(_stored_results(tx, live.product, duplicates))
    if keep:
        _store(
            tx,
            live.product,
            [cases[i] for i in keep],
            [decisions[i] for i in keep],
            [routes[i] for i in keep],
            actor,
            now,
        )
        results.update({cases[i].case_id: CaseResult(cases[i].case_id, "created", views[i]) for i in keep})
    return results


_ROUTE_FIELDS = ("queue", "priority", "winning_rule", "reason", "sla_due_at")
_ROUTE = operator.itemgetter(*_ROUTE_FIELDS)
ITEM_COLUMNS = ("case_pk", "product", "state", "created_at", "updated_at", *_ROUTE_FIELDS)


def _store(
    tx: Transactions,
    product: str,
    cases: Sequence[NewCase],
    decisions: Sequence[NewDecision],
    routes: Sequence[dict[str, Any] | None],
    actor: str,
    now: dt.datetime,
) -> None:
    """Cases, decisions, review items, then both audit events per case (appended last), in one
    transaction; every row and text made before it begins (inputs were cleaned when read)."""
    prepared = prepare_decided(cases, decisions, at=now, received_by=actor)
    queued = ReviewState.QUEUED.value
    with tx.write() as session:
        rows = insert_decided(session, prepared)
        items = [
            (pk, product, queued, now, now, *_ROUTE(r))
            for pk, r in zip(rows.case_pks, routes, strict=True)
            if r is not None
        ]
        bulk_insert(session, _items, ITEM_COLUMNS, items)
        append_decided(session, prepared, rows)


def _stored_results(tx: Transactions, product: str, duplicates: Mapping[str, int]) -> dict[str, CaseResult]:
    with tx.read() as session:
        views = decision_views(session, list(duplicates.values()))
    return {case_id: CaseResult(case_id, "duplicate", views.get(pk)) for case_id, pk in duplicates.items()}


def decision_views(session: Session, case_pks: Sequence[int]) -> dict[int, DecisionView]:
    """The current decision of each case with its review item's queue, state and SLA (pk -> view)."""
    decisions = repository.latest_decisions(session, case_pks)
    items = repository.review_items(session, case_pks)
    out = {}
    for pk, d in decisions.items():
        item = items.get(pk)
        out[pk] = DecisionView(
            outcome=d.outcome,
            kind=d.kind,
            score=d.score,
            winning_rule=d.winning_rule,
            rule_hits=list(d.rule_hits or []),
            reason=item.reason if item is not None and d.kind == "auto" else None,
            reasons=list(d.reasons or []),
            decided_by=d.decided_by,
            decided_at=d.decided_at,
            policy={"name": d.policy_name, "version": d.policy_version} if d.policy_name else None,
            model={"name": d.model_name, "version": d.model_version} if d.model_name else None,
            queue=item.queue if item is not None else None,
            priority=item.priority if item is not None else None,
            review_state=item.state if item is not None else None,
            sla_due_at=item.sla_due_at if item is not None else None,
        )
    return out


def decision_of(session: Session, product: str, case_id: str) -> DecisionView:
    """The current decision of one case (what a submitter polls)."""
    case = repository.case_row(session, product, case_id)
    view = decision_views(session, [case.pk]).get(case.pk)
    if view is None:  # pragma: no cover - a stored case always has its decision (same transaction)
        raise NotFound(f"case {case_id!r} of product line {product!r} has no decision")
    return view


# ---------------------------------------------------------------------------------------------
# Outcomes


def record_outcome(
    session: Session,
    product: str,
    case_id: str,
    *,
    bad: bool,
    description: str | None,
    note: str | None,
    actor: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record what later happened to a case (1 = the bad outcome: defaulted, fraud confirmed).

    Several may be recorded (a correction is a new record); the latest counts. Audited.
    """
    case = repository.case_row(session, product, case_id)
    now = now or utc_now()
    label = 1 if bad else 0
    outcome_id = session.execute(
        insert(_outcomes).returning(_outcomes.c.id),
        {
            "case_pk": case.pk,
            "label": label,
            "recorded_by": actor,
            "recorded_at": now,
            "description": description,
            "note": note,
        },
    ).scalar_one()
    append(
        session,
        [
            NewEvent(
                EventKind.OUTCOME_RECORDED,
                actor=actor,
                product=product,
                case_id=case_id,
                payload={"outcome_id": outcome_id, "label": label, "description": description, "note": note},
            )
        ],
    )
    return {
        "id": outcome_id,
        "label": label,
        "description": description,
        "note": note,
        "recorded_by": actor,
        "recorded_at": now,
    }


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
