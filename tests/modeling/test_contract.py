"""The input contract and the vectorised case check: bad case data gives messages, never exceptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.modeling.contract import check_cases, infer_contract
from decision_review.schemas import FieldKind, FieldSpec, InputContract

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
    st.integers(),  # unbounded, as JSON and CSV readers give them
    st.sampled_from([10**400, -(10**309)]),  # beyond any float
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


BLANKS = ["", " ", "\t\n", "\u2028", "\x1c", "\u3000 "]  # what str.strip() removes counts as no value
NUMBER_TEXT = {" 7 ": 7.0, "12": 12.0, "1e3": 1000.0, "-3.5": -3.5, "inf": float("inf"), "abc": None}


def cell(spec):
    """A value as a form or another system might send it for this field, good or bad."""
    if spec.kind is FieldKind.CATEGORICAL:
        known = st.sampled_from(spec.categories)
        return st.one_of(st.none(), known, known.map(lambda c: f" {c}"), st.sampled_from([*BLANKS, "zz"]))
    low, high = int(spec.minimum), int(spec.maximum)
    return st.one_of(
        st.none(),
        st.integers(low - (high - low), high + (high - low)),
        st.floats(low - 1, high + 1, allow_nan=False).map(lambda v: round(v, 1)),
        st.sampled_from([*NUMBER_TEXT, *BLANKS, float("inf"), 2.0**60]),
    )


def expected_row(contract, row: dict) -> tuple[bool, bool, bool, int]:
    """(valid, out_of_range, unseen_category, missing_count) worked out value by value in Python."""
    valid, out_of_range, unseen, missing_count = True, False, False, 0
    for spec in contract.fields:
        value = row[spec.name]
        missing = value is None or (isinstance(value, str) and value.strip() == "")
        if missing:
            valid &= spec.nullable
            missing_count += spec.model_input
            continue
        if spec.kind is FieldKind.CATEGORICAL:
            unseen |= spec.model_input and value not in spec.categories
            continue
        number = NUMBER_TEXT[value] if isinstance(value, str) else float(value)
        usable = number is not None and np.isfinite(number)
        if usable and spec.integer:
            usable = number == round(number) and abs(number) <= 2.0**53
        if not usable:
            valid = False
        elif spec.model_input and not spec.minimum <= number <= spec.maximum:
            out_of_range = True
    return valid, out_of_range, unseen, missing_count


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_flags_and_validity_match_a_value_by_value_reading(credit_model, data):
    """The vectorised check agrees, row by row, with reading each value on its own."""
    contract = credit_model.contract
    n = data.draw(st.integers(1, 6))
    rows = [{spec.name: data.draw(cell(spec)) for spec in contract.fields} for _ in range(n)]
    frame = pd.DataFrame(
        {f.name: pd.Series([r[f.name] for r in rows], dtype=object) for f in contract.fields}
    )
    checked = check_cases(frame, contract)
    expected = [expected_row(contract, row) for row in rows]
    assert checked.valid.tolist() == [e[0] for e in expected]
    assert checked.out_of_range.tolist() == [e[1] for e in expected]
    assert checked.unseen_category.tolist() == [e[2] for e in expected]
    assert checked.missing_count.tolist() == [e[3] for e in expected]


def test_blank_text_in_any_unicode_whitespace_is_no_value(credit_model, credit_dataset):
    cases = credit_dataset.frame.head(len(BLANKS)).copy()
    cases["Job"] = pd.Series(BLANKS, index=cases.index, dtype="str")  # nullable: counted, not an error
    cases["Records"] = pd.Series(BLANKS, index=cases.index, dtype="str")  # required: an error
    checked = check_cases(cases, credit_model.contract)
    assert checked.frame["Job"].isna().all() and checked.frame["Records"].isna().all()
    assert (checked.errors == "field 'Records' has no value (required)").all()
    assert not checked.unseen_category.any()


def test_a_batch_checks_the_same_whatever_the_lookup_grouping(german_model, german_dataset, monkeypatch):
    """Categorical fields are looked up together in groups sized by the batch; the grouping is no
    part of the answer."""
    cases = german_dataset.frame.head(300).astype(object).copy()
    cases.iloc[::7, 2] = "space travel"
    cases.iloc[::11, 5] = "  "
    reference = check_cases(cases, german_model.contract)
    for group_values in (1, 300, 900, 10**6):
        monkeypatch.setattr("decision_review.modeling.contract.LOOKUP_GROUP_VALUES", group_values)
        checked = check_cases(cases, german_model.contract)
        pd.testing.assert_frame_equal(checked.frame, reference.frame)
        pd.testing.assert_series_equal(checked.errors, reference.errors)
        assert (checked.unseen_category == reference.unseen_category).all()
        assert (checked.missing_count == reference.missing_count).all()


def test_a_blank_category_in_the_contract_still_means_no_value():
    contract = InputContract(
        fields=[FieldSpec(name="home", kind=FieldKind.CATEGORICAL, nullable=True, categories=[" ", "own"])]
    )
    checked = check_cases(pd.DataFrame({"home": ["own", " ", "", None, "boat"]}), contract)
    assert checked.missing_count.tolist() == [0, 1, 1, 1, 0]
    assert checked.unseen_category.tolist() == [False, False, False, False, True]
