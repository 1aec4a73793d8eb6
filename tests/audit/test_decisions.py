"""The bulk writers' composed payloads are byte for byte the canonical JSON of the plain events.

`prepare_decided` and `decided_events` write a decided case's two audit payloads by putting
pre-serialised parts together (for speed); the hash chain is defined on `canonical_json` of the
payload object. If the two ever differ, an export verified with the documented stdlib procedure
still passes (the stored text is what is hashed) but a replay or a re-serialisation would not
match: so they must not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.audit.chain import canonical_json
from decision_review.audit.decisions import (
    case_received_event,
    decided_events,
    decision_made_event,
    json_scalar,
    prepare_decided,
)
from decision_review.store.repository import NewCase, NewDecision, VersionRef

texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
inputs = st.dictionaries(texts, scalars, max_size=6)
refs = st.none() | st.builds(
    VersionRef, name=texts, version=texts, digest=st.text("0123456789abcdef", min_size=64, max_size=64)
)
reasons = st.lists(
    st.fixed_dictionaries({"code": texts, "text": texts, "contribution": st.floats(-5, 5)}), max_size=4
)
decisions = st.builds(
    NewDecision,
    outcome=st.sampled_from(["approve", "decline", "review", "error"]),
    kind=st.sampled_from(["auto", "review", "override"]),
    score=st.none() | st.floats(0, 1) | st.just(float("nan")),
    winning_rule=st.none() | texts,
    rule_hits=st.lists(texts, max_size=3),
    reasons=reasons,
    model=refs,
    policy=refs,
    decided_by=texts.filter(bool),
    note=st.none() | texts,
    error=st.none() | texts,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(texts.filter(bool), inputs, decisions), min_size=1, max_size=5), texts.filter(bool))
def test_composed_payloads_equal_the_canonical_json_of_the_plain_events(rows, received_by):
    cases = [NewCase("p", case_id, case_inputs) for case_id, case_inputs, _ in rows]
    made = [d for _, _, d in rows]
    pks = list(range(7, 7 + len(rows)))
    ids = list(range(100, 100 + len(rows)))
    received = dt.datetime(2026, 11, 23, 9, 0, 0, 1, tzinfo=dt.UTC)
    cases = [replace(c, received_at=received) for c in cases]
    decided = dt.datetime(2026, 11, 23, 9, 0, 1, tzinfo=dt.UTC)

    prepared = prepare_decided(cases, made, at=decided, received_by=received_by)
    composed = decided_events(prepared, pks, ids)

    plain = []
    for case, d, pk, decision_id in zip(cases, made, pks, ids, strict=True):
        plain.append(case_received_event(case, pk, case.inputs, "2026-11-23T09:00:00.000001Z"))
        plain.append(
            decision_made_event(case, d, pk, decision_id, case.inputs, "2026-11-23T09:00:01.000000Z")
        )
    assert len(composed) == len(plain)
    for got, want in zip(composed, plain, strict=True):
        assert str(got.payload) == canonical_json(dict(want.payload))
        assert (got.kind, got.product, got.case_id, got.policy_ref, got.model_ref) == (
            want.kind, want.product, want.case_id, want.policy_ref, want.model_ref,
        )  # fmt: skip
    assert [e.actor for e in composed[0::2]] == [received_by] * len(rows)
    assert [e.actor for e in composed[1::2]] == [d.decided_by for d in made]


@given(scalars | st.datetimes(timezones=st.just(dt.UTC)))
def test_a_scalar_is_written_as_canonical_json_writes_it(value):
    assert json_scalar(value) == canonical_json(value)
