"""A JSON case that passes `validate_case` is stored as it is: submission does not clean it again,
so every value the store or the audit log would refuse must be refused here, by field."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.cases.validation import CaseInvalid, validate_case
from decision_review.store.repository import clean_inputs
from tests.api.golden import case

# A good case with one field replaced by a drawn value of that field's JSON type, among them what
# a store refuses: NaN, infinities, integers no float holds, NUL and other control characters.
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([10**400, -(10**400)]), st.none())
texts = st.one_of(st.text(st.characters(codec=None, exclude_categories=()), max_size=12), st.none())


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_accepted_case_is_clean_already(german_model, data):
    contract = german_model.contract
    spec = data.draw(st.sampled_from(contract.fields), label="field")
    record = {
        **case("german_credit", "GC-0188", "c-1"),
        spec.name: data.draw(numbers if spec.kind == "numeric" else texts),
    }
    try:
        checked = validate_case(record, contract)
    except CaseInvalid as refused:
        assert [p["field"] for p in refused.problems] == [spec.name]
        return
    inputs = {k: v for k, v in checked.items() if k != contract.id_field}
    assert clean_inputs(inputs, "case") == inputs


def test_a_nul_character_is_named_with_its_field(german_model):
    contract = german_model.contract
    text_field = next(f.name for f in contract.fields if f.kind == "categorical")
    record = {"case_id": "c-1", **{f.name: None for f in contract.fields}, text_field: "car\x00"}
    with pytest.raises(CaseInvalid) as refused:
        validate_case(record, contract)
    message = f"field {text_field!r} holds a NUL character (U+0000); no text can hold it"
    assert {"field": text_field, "message": message} in refused.value.problems
