"""The input contract and the vectorised case check: bad case data gives messages, never exceptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.modeling.contract import check_cases, infer_contract
from decision_review.schemas import FieldKind

PROTECTED_SOURCES = {"personal_status_and_sex", "age_in_years", "foreign_worker"}


def test_contract_records_types_ranges_and_keeps_protected_sources_out_of_the_model(german_dataset):
    contract = infer_contract(german_dataset)
    assert contract.field_names == list(german_dataset.frame.columns)
    assert {f.name for f in contract.fields if not f.model_input} == PROTECTED_SOURCES
    assert set(contract.protected_sources) == PROTECTED_SOURCES
    age = contract.field("age_in_years")
    assert (age.kind, age.integer, age.minimum, age.maximum) == (FieldKind.NUMERIC, True, 19.0, 75.0)
    purpose = contract.field("purpose")
    assert purpose.kind is FieldKind.CATEGORICAL and "car (new)" in purpose.categories
    assert not any(f.nullable for f in contract.fields)


def test_contract_marks_fields_with_missing_values_nullable(credit_dataset):
    contract = infer_contract(credit_dataset)
    assert {f.name for f in contract.fields if f.nullable} == {
        "Income",
        "Assets",
        "Debt",
        "Home",
        "Marital",
        "Job",
    }


def test_training_data_passes_its_own_contract(credit_dataset):
    contract = infer_contract(credit_dataset)
    checked = check_cases(credit_dataset.frame, contract)
    assert checked.valid.all()
    assert not checked.out_of_range.any() and not checked.unseen_category.any()
    # Marital is a protected source (not a model input): its one missing value is not counted.
    assert checked.missing_count.sum() == 381 + 47 + 18 + 6 + 2


def test_bad_values_are_reported_per_row_naming_field_and_value(german_model, german_dataset):
    cases = german_dataset.frame.head(4).copy()
    cases["duration_in_month"] = cases["duration_in_month"].astype(object)
    cases.loc[0, "duration_in_month"] = "abc"
    cases.loc[1, "credit_amount"] = 99_999_999  # far beyond training: valid but out of range
    cases.loc[2, "purpose"] = "space travel"  # unseen category: valid but flagged
    cases.loc[3, "duration_in_month"] = 12.5  # integer field
    cases["channel"] = "web"
    checked = check_cases(cases, german_model.contract)
    assert checked.errors.iloc[0] == "field 'duration_in_month': 'abc' is not a number"
    assert checked.errors.iloc[1] is None and checked.out_of_range.tolist() == [False, True, False, False]
    assert checked.errors.iloc[2] is None and checked.unseen_category.tolist() == [False, False, True, False]
    assert "'12.5' is not a whole number" in checked.errors.iloc[3]
    assert checked.valid.tolist() == [False, True, True, False]
    assert checked.unknown_columns == ["channel"]
    assert checked.frame["duration_in_month"].dtype == "Int64"
    assert pd.api.types.is_string_dtype(checked.frame["purpose"])


def test_a_missing_column_makes_every_row_an_error_naming_it(german_model, german_dataset):
    cases = german_dataset.frame.head(3).drop(columns=["credit_history"])
    checked = check_cases(cases, german_model.contract)
    assert checked.errors.tolist() == ["column 'credit_history' is missing (required field)"] * 3


def test_missing_value_in_a_required_field_and_several_problems_in_one_row(german_model, german_dataset):
    cases = german_dataset.frame.head(1).copy()
    cases["housing"] = None
    cases["credit_amount"] = "lots"
    checked = check_cases(cases, german_model.contract)
    assert checked.errors.iloc[0] == (
        "field 'credit_amount': 'lots' is not a number; field 'housing' has no value (required)"
    )
    assert checked.missing_count[0] == 1


def test_nullable_fields_accept_missing_values_and_count_them(credit_model, credit_dataset):
    cases = credit_dataset.frame.head(2).copy()
    cases.loc[:, "Income"] = np.nan
    cases.loc[0, "Job"] = ""  # empty text means no value
    checked = check_cases(cases, credit_model.contract)
    assert checked.valid.all()
    assert checked.missing_count.tolist() == [2, 1]


def test_numbers_given_for_categories_match_their_text(credit_model, credit_dataset):
    contract = credit_model.contract
    frame = credit_dataset.frame.head(1).copy()
    checked = check_cases(frame.astype({"Seniority": "str"}), contract)  # numbers sent as text are parsed
    assert checked.valid.all() and checked.frame["Seniority"].iloc[0] == frame["Seniority"].iloc[0]


text_or_number = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_check_never_raises_and_reports_every_row(german_model, data):
    """Arbitrary junk in any subset of fields: one result per row, and valid rows really are scoreable."""
    contract = german_model.contract
    n = data.draw(st.integers(0, 6))
    columns = data.draw(
        st.lists(st.sampled_from(contract.field_names), unique=True, max_size=len(contract.fields))
    )
    frame = pd.DataFrame(
        {
            c: pd.Series(data.draw(st.lists(text_or_number, min_size=n, max_size=n)), dtype=object)
            for c in columns
        },
        index=range(n),
    )
    checked = check_cases(frame, contract)
    assert len(checked.errors) == len(checked.frame) == n
    assert checked.out_of_range.shape == checked.unseen_category.shape == checked.missing_count.shape == (n,)
    if n and len(columns) < len(contract.fields):
        assert not checked.valid.any()
    valid = checked.frame[checked.valid]
    assert np.isfinite(german_model.predict_proba(valid)).all()


def test_any_index_is_kept_row_for_row(german_model, german_dataset):
    cases = german_dataset.frame.head(3).copy()
    cases.index = ["GC-9", "GC-9", "GC-1"]  # duplicate, non-numeric labels
    cases.loc["GC-1", "purpose"] = "space travel"
    checked = check_cases(cases, german_model.contract)
    assert list(checked.frame.index) == ["GC-9", "GC-9", "GC-1"]
    assert checked.frame["purpose"].tolist() == [*german_dataset.frame["purpose"].head(2), "space travel"]
    assert checked.unseen_category.tolist() == [False, False, True]
