"""Explanations: additive, equal to shap's own values, and never a protected attribute as a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.errors import InvalidInput

PROTECTED_SOURCES = {"personal_status_and_sex", "age_in_years", "foreign_worker"}


@pytest.fixture(scope="module")
def german_cases(german_model, german_dataset):
    return german_model.check(german_dataset.frame).frame


@pytest.fixture(scope="module")
def credit_cases(credit_model, credit_dataset):
    return credit_model.check(credit_dataset.frame).frame


@pytest.mark.parametrize("which", ["german", "credit"])
def test_contributions_plus_base_equal_the_calibrated_margin_for_every_case(which, request):
    model = request.getfixturevalue(f"{which}_model")
    cases = request.getfixturevalue(f"{which}_cases")
    explanation = model.explain(cases)
    total = explanation.contributions.to_numpy().sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, model.margin(cases), atol=1e-4)
    p = 1 / (1 + np.exp(-total))
    np.testing.assert_allclose(p, model.predict_proba(cases), atol=1e-5)
    assert list(explanation.contributions.columns) == model.contract.model_inputs


def test_contributions_equal_shaps_tree_explainer_values(
    german_model, credit_model, german_cases, credit_cases
):
    """Known answer: shap.TreeExplainer on the same booster, folded per field, times the Platt slope."""
    for model, cases in [(german_model, german_cases), (credit_model, credit_cases)]:
        est = model.estimator
        explainer = shap.TreeExplainer(est.booster_)
        reference = explainer.shap_values(est.encode(cases))
        folded = np.add.reduceat(reference, est.layout_.field_starts, axis=1) * est.calibrator_.a
        ours = model.explain(cases)
        np.testing.assert_allclose(ours.contributions.to_numpy(), folded, atol=1e-6)
        assert ours.base_value == pytest.approx(
            est.calibrator_.a * explainer.expected_value + est.calibrator_.b
        )


def test_near_cutoff_reference_equals_shaps_interventional_values(credit_model, credit_cases):
    cases = credit_cases.head(40)
    cutoff = 0.25
    ours = credit_model.explain(cases, reference="near_cutoff", cutoff=cutoff)
    est = credit_model.estimator
    background = credit_model.explainer.near_cutoff_background(cutoff)
    background_scores = est.calibrator_.proba(est.booster_.inplace_predict(background, predict_type="margin"))
    assert len(background) == 100 and (background_scores < cutoff).all()
    assert background_scores.min() > 0.1  # the applicants just below the cut-off, not the safest ones
    explainer = shap.TreeExplainer(est.booster_, data=background, feature_perturbation="interventional")
    reference = explainer.shap_values(est.encode(cases))
    folded = np.add.reduceat(reference, est.layout_.field_starts, axis=1) * est.calibrator_.a
    np.testing.assert_allclose(ours.contributions.to_numpy(), folded, atol=1e-6)
    np.testing.assert_allclose(ours.log_odds, credit_model.margin(cases), atol=1e-4)
    assert ours.config.reference == "near_cutoff" and ours.config.cutoff == cutoff
    assert ours.config.background_rows == 100


def test_reasons_are_the_largest_contributions_towards_bad(german_model, german_cases):
    explanation = german_model.explain(german_cases.head(200), top_k=3)
    contributions = explanation.contributions.to_numpy()
    for row, reasons in enumerate(explanation.reasons):
        positive = np.sort(contributions[row][contributions[row] > 0])[::-1][:3]
        np.testing.assert_allclose([r.contribution for r in reasons], positive)
        for reason in reasons:
            entry = german_model.reasons.reasons[reason.field]
            assert (reason.code, reason.text) == (entry.code, entry.text)
    assert explanation.top_fields.shape == (200, 3)
    frame = explanation.reason_frame()
    assert frame["reason_1_code"].iloc[0] == explanation.reasons[0][0].code


def test_four_reasons_by_default_and_configurable(german_model, german_cases):
    assert german_model.explain(german_cases.head(5)).top_fields.shape == (5, 4)
    assert german_model.explain(german_cases.head(5), top_k=2).top_fields.shape == (5, 2)
    with pytest.raises(InvalidInput, match="top_k"):
        german_model.explain(german_cases.head(5), top_k=0)


def test_explanation_records_its_configuration(german_model, german_cases):
    config = german_model.explain(german_cases.head(2)).config
    assert (config.model, config.version, config.model_digest) == ("german_credit", 1, german_model.digest)
    assert config.reference == "all_applicants" and "log-odds" in config.output_space
    assert config.shap_version == shap.__version__
    with pytest.raises(InvalidInput, match="needs the approval cut-off"):
        german_model.explain(german_cases.head(2), reference="near_cutoff")
    with pytest.raises(InvalidInput, match="unknown explanation reference"):
        german_model.explain(german_cases.head(2), reference="everyone")


def test_empty_batch_scores_and_explains_to_nothing(german_model, german_cases):
    assert german_model.predict_proba(german_cases.head(0)).shape == (0,)
    explanation = german_model.explain(german_cases.head(0))
    assert explanation.contributions.shape == (0, 17) and explanation.reasons == []


@st.composite
def extreme_cases(draw, contract, n):
    """Cases with protected fields at extremes and model inputs drawn from their categories/ranges."""
    columns = {}
    for spec in contract.fields:
        if spec.categories:
            columns[spec.name] = draw(st.lists(st.sampled_from(spec.categories), min_size=n, max_size=n))
        else:
            columns[spec.name] = draw(
                st.lists(st.integers(int(spec.minimum), int(spec.maximum)), min_size=n, max_size=n)
            )
    return pd.DataFrame(columns)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_protected_attribute_never_appears_as_a_reason(german_model, data):
    cases = german_model.check(data.draw(extreme_cases(german_model.contract, 8))).frame
    for reference, cutoff in [("all_applicants", None), ("near_cutoff", 0.3)]:
        explanation = german_model.explain(cases, top_k=17, reference=reference, cutoff=cutoff)
        named = {r.field for reasons in explanation.reasons for r in reasons}
        assert not named & PROTECTED_SOURCES
        assert not set(explanation.contributions.columns) & PROTECTED_SOURCES
        assert (explanation.top_contributions[~np.isnan(explanation.top_contributions)] > 0).all()


def test_small_batches_explained_on_one_thread_equal_shaps_values(german_model, german_cases):
    """Batches below `SMALL_BATCH` use the booster's one-thread copy: the same known answer."""
    est = german_model.estimator
    explainer = shap.TreeExplainer(est.booster_)
    for rows in (german_cases.head(1), german_cases.iloc[10:17]):
        reference = explainer.shap_values(est.encode(rows))
        folded = (
            np.add.reduceat(np.atleast_2d(reference), est.layout_.field_starts, axis=1) * est.calibrator_.a
        )
        ours = german_model.explain(rows)
        np.testing.assert_allclose(ours.contributions.to_numpy(), folded, atol=1e-6)
        names = np.array([*german_model.contract.model_inputs, None], dtype=object)
        assert (names[ours.top_positions] == ours.top_fields).all()
