"""Bulk writes of cases and decisions, and storing them with their audit events in one transaction."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from decision_review.audit.decisions import inputs_digest, record_decided_cases
from decision_review.audit.log import find_events, verify
from decision_review.errors import InvalidInput
from decision_review.store.repository import (
    NewCase,
    NewDecision,
    VersionRef,
    existing_case_pks,
    insert_cases,
    insert_decisions,
)
from decision_review.store.tables import AuditEvent, Case, Decision

MODEL = VersionRef("xgb-credit", "2", "sha256:" + "a" * 64)
POLICY = VersionRef("german_credit", "3", "sha256:" + "b" * 64)


def _cases(n: int, prefix: str = "c") -> list[NewCase]:
    return [
        NewCase("german_credit", f"{prefix}{i}", {"duration": 12 + i, "purpose": "car", "age": 30 + i},
                protected={"age_group": "25-45"})
        for i in range(n)
    ]  # fmt: skip


def _decisions(n: int) -> list[NewDecision]:
    reason = {"field": "duration", "code": "R01", "text": "Long duration", "contribution": 0.31}
    return [
        NewDecision(outcome=["approve", "review", "decline"][i % 3], score=i / 10, winning_rule="r1",
                    rule_hits=["r1", "r2"], reasons=[reason], model=MODEL, policy=POLICY)
        for i in range(n)
    ]  # fmt: skip


def test_bulk_insert_returns_ids_in_order_and_keeps_protected_apart(sessions):
    with sessions.begin() as session:
        pks = insert_cases(session, _cases(5))
        ids = insert_decisions(session, pks, _decisions(5))
    with sessions() as session:
        cases = {c.id: c for c in session.scalars(select(Case))}
        decisions = {d.id: d for d in session.scalars(select(Decision))}
    assert [cases[pk].case_id for pk in pks] == [f"c{i}" for i in range(5)]
    assert cases[pks[2]].inputs == {"duration": 14, "purpose": "car", "age": 32}
    assert cases[pks[2]].protected == {"age_group": "25-45"}
    assert "age_group" not in cases[pks[2]].inputs
    d = decisions[ids[4]]
    assert (d.case_pk, d.outcome, d.score, d.rule_hits) == (pks[4], "review", 0.4, ["r1", "r2"])
    assert (d.model_name, d.model_version, d.policy_digest) == ("xgb-credit", "2", POLICY.digest)
    assert d.reasons[0]["text"] == "Long duration"
    assert d.decided_at.tzinfo == dt.UTC


def test_missing_values_become_null_and_infinity_is_refused(sessions):
    case = NewCase("p", "c1", {"a": float("nan"), "b": np.float64("nan"), "c": np.int64(4), "d": None})
    with sessions.begin() as session:
        (pk,) = insert_cases(session, [case])
    with sessions() as session:
        assert session.get(Case, pk).inputs == {"a": None, "b": None, "c": 4, "d": None}
    with pytest.raises(InvalidInput, match="field 'x' is inf"), sessions.begin() as session:
        insert_cases(session, [NewCase("p", "c2", {"x": math.inf})])


def test_resubmitted_case_ids_are_found_and_a_duplicate_insert_fails_whole(sessions):
    with sessions.begin() as session:
        insert_cases(session, _cases(3))
    with sessions() as session:
        assert set(existing_case_pks(session, "german_credit", ["c1", "c2", "zz"])) == {"c1", "c2"}
        assert existing_case_pks(session, "fraud_alerts", ["c1"]) == {}
    with pytest.raises(IntegrityError), sessions.begin() as session:
        insert_cases(session, _cases(5, prefix="new") + _cases(1))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 3


def test_decided_cases_are_stored_with_both_events_in_one_transaction(engine, sessions):
    with sessions.begin() as session:
        stored = record_decided_cases(session, _cases(4), _decisions(4))
    assert [s.outcome for s in stored] == ["approve", "review", "decline", "approve"]
    assert [(s.case_event_seq, s.decision_event_seq) for s in stored] == [(1, 2), (3, 4), (5, 6), (7, 8)]
    with sessions() as session:
        events = find_events(session, case_id="c1")
        statuses = dict(session.execute(select(Case.case_id, Case.status)).all())
    received, decided = events
    assert received.kind == "case_received" and decided.kind == "decision_made"
    assert received.payload["inputs_sha256"] == inputs_digest({"duration": 13, "purpose": "car", "age": 31})
    assert decided.payload["inputs"] == {"duration": 13, "purpose": "car", "age": 31}
    assert "age_group" not in decided.payload_json  # protected attributes stay out of the log
    assert decided.payload["decision_id"] == stored[1].decision_id
    assert decided.payload["reasons"][0]["contribution"] == 0.31
    assert (decided.policy_ref, decided.model_ref) == ("german_credit@3", "xgb-credit@2")
    assert decided.payload["model"]["digest"] == MODEL.digest
    assert statuses == {"c0": "decided", "c1": "in_review", "c2": "decided", "c3": "decided"}
    assert verify(engine).ok


def test_a_failure_after_the_decisions_leaves_neither_decisions_nor_events(engine, sessions):
    with sessions.begin() as session:
        record_decided_cases(session, _cases(2), _decisions(2))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        record_decided_cases(session, _cases(3, prefix="n") + _cases(1), _decisions(4))  # c0 again
    with sessions() as session:
        counts = [session.scalar(select(func.count()).select_from(t)) for t in (Case, Decision, AuditEvent)]
    assert counts == [2, 2, 4]
    assert verify(engine).count == 4
