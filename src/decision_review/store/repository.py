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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from decision_review.errors import InvalidInput
from decision_review.schemas import Outcome
from decision_review.store.tables import Case, CaseStatus, Decision, DecisionKind

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


def clean_inputs(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Inputs as JSON can hold them: NaN and pandas' NA (a missing value) become null.

    Infinity is refused: it is not a missing value, and neither JSON nor JSONB can hold it.
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


def insert_cases(
    session: Session,
    cases: Sequence[NewCase],
    *,
    statuses: Sequence[str] | None = None,
    at: dt.datetime | None = None,
) -> list[int]:
    """Insert `cases` in one multi-row statement; returns their ids (`cases.id`) in order.

    A (product, case_id) already stored raises the database's unique-constraint error; use
    `existing_case_pks` first when resubmission is expected.
    """
    if not cases:
        return []
    at = at or utc_now()
    rows = [
        {
            "product": case.product,
            "case_id": case.case_id,
            "received_at": case.received_at or at,
            "inputs": clean_inputs(case.inputs, f"case {case.product}/{case.case_id}"),
            "protected": dict(case.protected),
            "status": str(statuses[i]) if statuses is not None else CaseStatus.RECEIVED.value,
        }
        for i, case in enumerate(cases)
    ]
    result = session.execute(insert(_cases).returning(_cases.c.id, sort_by_parameter_order=True), rows)
    return list(result.scalars())


def insert_decisions(
    session: Session,
    case_pks: Sequence[int],
    decisions: Sequence[NewDecision],
    *,
    at: dt.datetime | None = None,
) -> list[int]:
    """Insert one decision per case id in one multi-row statement; returns the decision ids."""
    if len(case_pks) != len(decisions):
        raise ValueError(f"{len(case_pks)} case ids for {len(decisions)} decisions")
    if not decisions:
        return []
    at = at or utc_now()
    rows = [_decision_row(pk, decision, at) for pk, decision in zip(case_pks, decisions, strict=True)]
    result = session.execute(
        insert(_decisions).returning(_decisions.c.id, sort_by_parameter_order=True), rows
    )
    return list(result.scalars())


def _decision_row(case_pk: int, d: NewDecision, at: dt.datetime) -> dict[str, Any]:
    return {
        "case_pk": case_pk,
        "kind": str(d.kind),
        "outcome": str(d.outcome),
        "score": None if d.score is None or d.score != d.score else float(d.score),
        "winning_rule": d.winning_rule,
        "rule_hits": list(d.rule_hits),
        "reasons": [dict(r) for r in d.reasons],
        "model_name": d.model.name if d.model else None,
        "model_version": d.model.version if d.model else None,
        "model_digest": d.model.digest if d.model else None,
        "policy_name": d.policy.name if d.policy else None,
        "policy_version": d.policy.version if d.policy else None,
        "policy_digest": d.policy.digest if d.policy else None,
        "decided_by": d.decided_by,
        "decided_at": at,
        "note": d.note,
        "error": d.error,
        "explanation": dict(d.explanation) if d.explanation is not None else None,
    }


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
