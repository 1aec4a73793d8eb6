"""The audit events of a decided case, and storing cases, decisions and events together.

Why in one place: every path that decides cases (online, bulk, replay) must write the same
events with the same payloads, or an examiner would find decisions explained in different ways.
`record_decided_cases` is the reference path: one transaction (the caller's) holds the case
rows, the decision rows and both events per case, so either all of it exists or none does.

Example:

    >>> with sessions.begin() as session:                                         # doctest: +SKIP
    ...     stored = record_decided_cases(session, [NewCase("german_credit", "c-1", {...})],
    ...                                   [NewDecision(outcome="approve", score=0.03, ...)])
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind, canonical_json
from decision_review.audit.log import NewEvent, append
from decision_review.store.jsonvalues import UTC_TEXT_FORMAT
from decision_review.store.repository import (
    SYSTEM,
    NewCase,
    NewDecision,
    case_status,
    clean_inputs,
    insert_cases,
    insert_decisions,
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
    return NewEvent(
        EventKind.DECISION_MADE,
        actor=d.decided_by,
        product=case.product,
        case_id=case.case_id,
        policy_ref=d.policy.ref if d.policy else None,
        model_ref=d.model.ref if d.model else None,
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


def record_decided_cases(
    session: Session,
    cases: Sequence[NewCase],
    decisions: Sequence[NewDecision],
    *,
    at: dt.datetime | None = None,
) -> list[StoredDecision]:
    """Store new cases, their decisions and both audit events per case, in the caller's transaction.

    A few multi-row statements and one chain-head lock per call, whatever the number of cases.
    The caller commits; a failure anywhere leaves none of it.
    """
    if len(cases) != len(decisions):
        raise ValueError(f"{len(cases)} cases for {len(decisions)} decisions")
    if not cases:
        return []
    at = at or utc_now()
    at_text = _utc_text(at)
    inputs = [clean_inputs(c.inputs, f"case {c.product}/{c.case_id}") for c in cases]
    case_pks = insert_cases(session, cases, statuses=[case_status(str(d.outcome)) for d in decisions], at=at)
    decision_ids = insert_decisions(session, case_pks, decisions, at=at)
    events: list[NewEvent] = []
    for case, case_inputs, pk, decision_id, d in zip(
        cases, inputs, case_pks, decision_ids, decisions, strict=True
    ):
        received = _utc_text(case.received_at) if case.received_at else at_text
        events.append(case_received_event(case, pk, case_inputs, received))
        events.append(decision_made_event(case, d, pk, decision_id, case_inputs, at_text))
    stored = append(session, events)
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
            zip(cases, case_pks, decision_ids, decisions, strict=True)
        )
    ]
