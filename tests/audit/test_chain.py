"""The pure chain rules: canonical JSON, event hashes, and finding the first break in a run."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.audit.chain import (
    GENESIS_HASH,
    BreakKind,
    ChainVerifier,
    canonical_json,
    event_document,
    event_hash,
    verify_events,
)
from decision_review.errors import InvalidInput
from tests.audit.tampering import EDITS, apply_edit, build_chain

# JSON values as they reach a payload (finite floats, any text including control characters).
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
optional_text = st.none() | st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)
required_text = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)


def test_canonical_json_known_answer():
    """The exact bytes of the documented rule: sorted keys, no spaces, raw UTF-8, repr floats."""
    value = {"b": 1.0, "a": ["é", None, True, 10**20, 1e20, 0.1, 1e-7], "c": {"z": '\n\t"\\\x01', "y": -0.0}}
    assert canonical_json(value) == (
        '{"a":["é",null,true,100000000000000000000,1e+20,0.1,1e-07],"b":1.0,"c":{"y":-0.0,"z":"\\n\\t\\"\\\\\\u0001"}}'
    )


def test_event_hash_known_answer():
    """hash = sha256(prev_hash + canonical_json(event)), checked against hashlib on the literal text."""
    document = event_document(
        7, "2024-05-01T12:00:00.000000Z", "ana", "decision_made", "german_credit", "c-9", "gc@3", "xgb@2",
        '{"outcome":"decline","score":0.42}', GENESIS_HASH,
    )  # fmt: skip
    literal = (
        '{"actor":"ana","case_id":"c-9","kind":"decision_made","model_ref":"xgb@2",'
        '"payload":{"outcome":"decline","score":0.42},"policy_ref":"gc@3","prev_hash":"' + "0" * 64 + '",'
        '"product":"german_credit","seq":7,"ts":"2024-05-01T12:00:00.000000Z"}'
    )
    assert document == literal
    assert event_hash(GENESIS_HASH, document) == hashlib.sha256(("0" * 64 + literal).encode()).hexdigest()


@settings(max_examples=300)
@given(
    seq=st.integers(min_value=1, max_value=2**62),
    ts=required_text,
    actor=required_text,
    kind=required_text,
    product=optional_text,
    case_id=optional_text,
    policy_ref=optional_text,
    model_ref=optional_text,
    payload=payloads,
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_spliced_document_equals_canonical_json_of_the_event(
    seq, ts, actor, kind, product, case_id, policy_ref, model_ref, payload, prev_hash
):
    """The fast path (stored payload text spliced in) gives the bytes of canonical_json(whole event)."""
    try:
        payload_text = canonical_json(payload)
    except InvalidInput:  # lone surrogates in generated text: refused, never stored
        return
    fields = {"seq": seq, "ts": ts, "actor": actor, "kind": kind, "product": product, "case_id": case_id,
                  "policy_ref": policy_ref, "model_ref": model_ref, "prev_hash": prev_hash}  # fmt: skip
    try:
        expected = canonical_json({**fields, "payload": json.loads(payload_text)})
    except InvalidInput:
        return
    assert event_document(payload=payload_text, **fields) == expected
    # and the text round-trips: parsing it back and canonicalising again changes nothing
    assert canonical_json(json.loads(expected)) == expected


def test_canonical_json_converts_what_payloads_carry():
    when = dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    value = {"amount": Decimal("1500.10"), "at": when, "day": dt.date(2024, 5, 1), "n": np.int64(3),
             "x": np.float32(0.5), "flag": np.bool_(True), "v": np.array([1, 2])}  # fmt: skip
    assert json.loads(canonical_json(value)) == {
        "amount": "1500.10", "at": "2024-05-01T12:00:00.000000Z", "day": "2024-05-01", "n": 3,
        "x": 0.5, "flag": True, "v": [1, 2],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": float("nan")}, "Out of range float"),
        ({"x": float("inf")}, "Out of range float"),
        ({1: "a"}, "keys must be strings"),
        ({"x": [{"y": {2: 1}}]}, "keys must be strings"),
        ({"x": dt.datetime(2024, 1, 1)}, "naive datetime"),
        ({"x": "\ud800"}, "surrogate"),
        ({"x": {1, 2}}, "set is not a JSON value"),
    ],
)
def test_canonical_json_refuses_what_cannot_be_reproduced(value, message):
    with pytest.raises(InvalidInput, match=message):
        canonical_json(value)


def test_intact_chain_verifies_in_any_chunking():
    rows = build_chain(50)
    assert verify_events(rows) is None
    verifier = ChainVerifier()
    for start in range(0, 50, 7):
        assert verifier.feed(rows[start : start + 7]) is None
    assert verifier.finish(50, rows[-1][10]) is None
    assert (verifier.count, verifier.last_seq, verifier.last_hash) == (50, 50, rows[-1][10])


def test_a_piece_of_the_chain_verifies_from_the_hash_before_it():
    rows = build_chain(30)
    assert verify_events(rows[10:20], first_seq=11, prev_hash=rows[9][10]) is None
    assert (
        verify_events(rows[10:20], first_seq=11, prev_hash=GENESIS_HASH).kind is BreakKind.PREV_HASH_MISMATCH
    )


@settings(max_examples=400)
@given(n=st.integers(min_value=2, max_value=40), edit=st.sampled_from(EDITS), data=st.data())
def test_any_single_edit_is_found_at_its_place(n, edit, data):
    rows = build_chain(n)
    head = (n, rows[-1][10])
    k = data.draw(st.integers(min_value=0, max_value=n - 1), label="k")
    j = data.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda x: x != k), label="j")
    edited, seq, kind = apply_edit(rows, edit, k, j)
    verifier = ChainVerifier()
    verifier.feed(edited)
    broken = verifier.finish(*head)
    assert broken is not None
    assert (broken.seq, broken.kind) == (seq, kind)
