"""The audit events of a decided case, and storing cases, decisions and events together.

Why in one place: every path that decides cases (online, bulk, replay) must write the same
events with the same payloads, or an examiner would find decisions explained in different ways.
Every such path makes its rows and texts with `prepare_decided` (before its transaction, so the
write lock is not held while they are made), then writes through the same two steps,
`insert_decided` (case and decision rows) and `append_decided` (both events per case), in one
transaction (the caller's), so either all of it exists or none does; online and bulk submission
store their review items between the two, `record_decided_cases` calls them back to back.

Example:

    >>> with sessions.begin() as session:                                         # doctest: +SKIP
    ...     stored = record_decided_cases(session, [NewCase("german_credit", "c-1", {...})],
    ...                                   [NewDecision(outcome="approve", score=0.03, ...)])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind, canonical_json
from decision_review.audit.log import CanonicalPayload, NewEvent, StoredEvent, append
from decision_review.errors import InvalidInput
from decision_review.store.jsonvalues import UTC_TEXT_FORMAT
from decision_review.store.repository import (
    SYSTEM,
    NewCase,
    NewDecision,
    VersionRef,
    case_rows,
    case_status,
    clean_inputs,
    decision_rows,
    insert_case_rows,
    insert_decision_rows,
    utc_now,
)


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """Where a decided case ended up: its row ids and the sequence numbers of its audit events."""

    product: str
    case_id: str
    case_pk: int
    decision_id: int
    outcome: str
    case_event_seq: int
    decision_event_seq: int


def _utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime(UTC_TEXT_FORMAT)


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """sha256 of the inputs' canonical JSON: ties a `case_received` event to the decision's inputs."""
    return hashlib.sha256(canonical_json(dict(inputs)).encode()).hexdigest()


def case_received_event(case: NewCase, case_pk: int, inputs: Mapping[str, Any], received_at: str) -> NewEvent:
    """The arrival of a case: its row id, when it came, and a digest of exactly what came."""
    return NewEvent(
        EventKind.CASE_RECEIVED,
        actor=SYSTEM,
        product=case.product,
        case_id=case.case_id,
        payload={"case_pk": case_pk, "received_at": received_at, "inputs_sha256": inputs_digest(inputs)},
    )


def decision_event(
    kind: EventKind, decision: NewDecision, *, actor: str, product: str, case_id: str, payload: Any
) -> NewEvent:
    """An event about one decision, stamped with the policy and model versions that made it."""
    return NewEvent(
        kind,
        actor=actor,
        product=product,
        case_id=case_id,
        policy_ref=decision.policy.ref if decision.policy else None,
        model_ref=decision.model.ref if decision.model else None,
        payload=payload,
    )


def decision_made_event(
    case: NewCase,
    decision: NewDecision,
    case_pk: int,
    decision_id: int,
    inputs: Mapping[str, Any],
    decided_at: str,
) -> NewEvent:
    """A decision with all an examiner needs to explain it: inputs, score, rules, reasons, versions."""
    d = decision
    return decision_event(
        EventKind.DECISION_MADE,
        d,
        actor=d.decided_by,
        product=case.product,
        case_id=case.case_id,
        payload={
            "decision_id": decision_id,
            "case_pk": case_pk,
            "kind": str(d.kind),
            "outcome": str(d.outcome),
            "score": None if d.score is None or d.score != d.score else float(d.score),
            "winning_rule": d.winning_rule,
            "rule_hits": list(d.rule_hits),
            "reasons": [dict(r) for r in d.reasons],
            "inputs": dict(inputs),
            "model": d.model.as_dict() if d.model else None,
            "policy": d.policy.as_dict() if d.policy else None,
            "decided_by": d.decided_by,
            "decided_at": decided_at,
            "note": d.note,
            "error": d.error,
        },
    )


# ---------------------------------------------------------------------------------------------
# The same two events for many cases at once
#
# Why composed: a decided case's inputs appear in its row, in the digest of its `case_received`
# event and in its `decision_made` payload; its reasons in its row and its payload. Serialising a
# whole payload per event costs most of a batch's write time, so each shared part is serialised
# once (canonical JSON) and the payloads are put together around them, keys in sorted order.
# The result is byte for byte `canonical_json` of the dicts above (tests/audit/test_decisions.py
# holds the two together with hypothesis), so the hash rule does not change.


def json_scalar(value: Any) -> str:
    """`canonical_json` of one value, quickly for the plain scalars (None, bool, int, float, str)."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"audit payload is not canonical JSON: {exc}") from None
        return encode_basestring(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return canonical_json(value)


@dataclass(frozen=True, slots=True)
class PreparedDecided:
    """Decided cases made ready to write before the transaction begins: every row and every
    payload text composed, only the ids the database gives left to fill in.

    Why before: on SQLite a write transaction holds the database's one write lock from its first
    statement, and composing the texts was over a quarter of the time inside it; made here, another
    worker's batch can write while this one is being prepared.
    """

    cases: Sequence[NewCase]
    decisions: Sequence[NewDecision]
    case_rows: list[tuple[Any, ...]]
    decision_rows: list[tuple[Any, ...]]  # each without its case id
    # Per case, the payload texts around the ids: `case_received` after its case_pk; `decision_made`
    # between its case_pk and decision_id, and after the decision_id.
    payload_parts: list[tuple[str, str, str]]
    received_by: str


def prepare_decided(
    cases: Sequence[NewCase],
    decisions: Sequence[NewDecision],
    *,
    at: dt.datetime,
    received_by: str = SYSTEM,
) -> PreparedDecided:
    """Rows and event texts for decided cases (inputs already cleaned by
    `store.repository.clean_inputs`), in no transaction; `received_by` is the actor of their
    `case_received` events."""
    at_text = _utc_text(at)
    received_at = [at_text if c.received_at in (None, at) else _utc_text(c.received_at) for c in cases]
    inputs_json, reasons_json = shared_texts([c.inputs for c in cases], decisions)
    statuses = [case_status(str(d.outcome)) for d in decisions]
    return PreparedDecided(
        cases=cases,
        decisions=decisions,
        case_rows=case_rows(cases, statuses, at, inputs_json),
        decision_rows=decision_rows(decisions, at, reasons_json),
        payload_parts=_payload_parts(decisions, inputs_json, reasons_json, received_at, at_text),
        received_by=received_by,
    )


def _payload_parts(
    decisions: Sequence[NewDecision],
    inputs_json: Sequence[str],
    reasons_json: Sequence[str],
    received_at: Sequence[str],
    decided_at: str,
) -> list[tuple[str, str, str]]:
    refs: dict[VersionRef | None, str] = {None: "null"}
    decided_at_json = json_scalar(decided_at)
    parts = []
    for d, inputs, reasons, received in zip(decisions, inputs_json, reasons_json, received_at, strict=True):
        digest = hashlib.sha256(inputs.encode()).hexdigest()
        model, policy = d.model, d.policy
        for ref in (model, policy):
            if ref not in refs:
                refs[ref] = canonical_json(ref.as_dict())  # type: ignore[union-attr]
        score = None if d.score is None or d.score != d.score else float(d.score)
        parts.append(
            (
                f',"inputs_sha256":"{digest}","received_at":{json_scalar(received)}}}',
                f',"decided_at":{decided_at_json},"decided_by":{json_scalar(d.decided_by)},"decision_id":',
                f',"error":{json_scalar(d.error)},"inputs":{inputs},"kind":{json_scalar(str(d.kind))},'
                f'"model":{refs[model]},"note":{json_scalar(d.note)},'
                f'"outcome":{json_scalar(str(d.outcome))},"policy":{refs[policy]},'
                f'"reasons":{reasons},"rule_hits":{canonical_json(list(d.rule_hits))},'
                f'"score":{json_scalar(score)},"winning_rule":{json_scalar(d.winning_rule)}}}',
            )
        )
    return parts


def decided_events(
    prepared: PreparedDecided, case_pks: Sequence[int], decision_ids: Sequence[int]
) -> list[NewEvent]:
    """`case_received` then `decision_made` for each case, the ids put into the prepared texts.
    Equal to `case_received_event` and `decision_made_event` (with `received_by` as the first
    event's actor)."""
    events: list[NewEvent] = []
    append_event = events.append
    received_by = prepared.received_by
    for case, d, pk, decision_id, (received, made_head, made_tail) in zip(
        prepared.cases, prepared.decisions, case_pks, decision_ids, prepared.payload_parts, strict=True
    ):
        pk_json = f'{{"case_pk":{json_scalar(pk)}'
        append_event(
            NewEvent(
                EventKind.CASE_RECEIVED,
                actor=received_by,
                product=case.product,
                case_id=case.case_id,
                payload=CanonicalPayload(pk_json + received),
            )
        )
        model, policy = d.model, d.policy
        append_event(
            NewEvent(
                EventKind.DECISION_MADE,
                actor=d.decided_by,
                product=case.product,
                case_id=case.case_id,
                policy_ref=policy.ref if policy else None,
                model_ref=model.ref if model else None,
                payload=CanonicalPayload(pk_json + made_head + json_scalar(decision_id) + made_tail),
            )
        )
    return events


def shared_texts(
    inputs: Sequence[Mapping[str, Any]], decisions: Sequence[NewDecision]
) -> tuple[list[str], list[str]]:
    """Canonical JSON of each case's inputs (already cleaned) and of each decision's reasons:
    what the case and decision rows and the two events share."""
    return (
        [canonical_json(dict(i)) for i in inputs],
        [canonical_json([dict(r) for r in d.reasons]) for d in decisions],
    )


@dataclass(frozen=True, slots=True)
class DecidedRows:
    """The ids `insert_decided` was given for its case and decision rows."""

    case_pks: list[int]
    decision_ids: list[int]


def insert_decided(session: Session, prepared: PreparedDecided) -> DecidedRows:
    """The case and decision rows of prepared cases, in the caller's transaction. Their events
    follow with `append_decided`, after anything else the caller stores with them: the chain
    head stays locked from the append to the commit, so it is taken last."""
    case_pks = insert_case_rows(session, prepared.case_rows)
    return DecidedRows(case_pks, insert_decision_rows(session, case_pks, prepared.decision_rows))


def append_decided(session: Session, prepared: PreparedDecided, rows: DecidedRows) -> list[StoredEvent]:
    """`case_received` then `decision_made` for each case written by `insert_decided`."""
    return append(session, decided_events(prepared, rows.case_pks, rows.decision_ids))


def record_decided_cases(
    session: Session,
    cases: Sequence[NewCase],
    decisions: Sequence[NewDecision],
    *,
    at: dt.datetime | None = None,
) -> list[StoredDecision]:
    """Store new cases, their decisions and both audit events per case, in the caller's transaction.

    The same two steps as online and bulk submission (`insert_decided`, `append_decided`), with
    the inputs cleaned first. A few statements and one chain-head lock per call, whatever the
    number of cases. The caller commits; a failure anywhere leaves none of it.
    """
    if len(cases) != len(decisions):
        raise ValueError(f"{len(cases)} cases for {len(decisions)} decisions")
    if not cases:
        return []
    cleaned = [replace(c, inputs=clean_inputs(c.inputs, f"case {c.product}/{c.case_id}")) for c in cases]
    prepared = prepare_decided(cleaned, decisions, at=at or utc_now())
    rows = insert_decided(session, prepared)
    stored = append_decided(session, prepared, rows)
    return [
        StoredDecision(
            product=case.product,
            case_id=case.case_id,
            case_pk=pk,
            decision_id=decision_id,
            outcome=str(d.outcome),
            case_event_seq=stored[2 * i].seq,
            decision_event_seq=stored[2 * i + 1].seq,
        )
        for i, (case, pk, decision_id, d) in enumerate(
            zip(cases, rows.case_pks, rows.decision_ids, decisions, strict=True)
        )
    ]
