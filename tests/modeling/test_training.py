"""Training: deterministic, calibrated, protected attributes kept out, quality recorded in the card."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from decision_review.errors import InvalidInput
from decision_review.modeling.calibration import PlattCalibrator
from decision_review.modeling.estimator import CreditRiskClassifier
from decision_review.modeling.registry import ModelRegistry
from decision_review.modeling.training import train
from tests.fixtures.modeling import train_small


def test_shipped_german_model_meets_the_quality_bar(german_model):
    card = german_model.card
    assert card.cross_validated is not None
    assert card.cross_validated.overall.auc >= 0.75
    assert len(card.cross_validated.fold_auc) == 5
    assert card.held_out.overall.calibration and card.cross_validated.overall.calibration
    assert card.cross_validated.overall.ece < 0.05
    assert set(card.held_out.by_group) == {"sex", "age_band", "foreign_worker"}
    assert card.held_out.by_group["sex"]["female"].calibration  # calibration by group
    assert card.training_data.rows == 1000 and card.training_data.test_rows == 200


def test_shipped_credit_data_model_handles_missing_values(credit_model, credit_dataset):
    assert credit_model.card.cross_validated.overall.auc >= 0.8
    checked = credit_model.check(credit_dataset.frame)
    p = credit_model.predict_proba(checked.frame)
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    assert abs(p.mean() - credit_dataset.target.mean()) < 0.02  # calibrated in the large


def test_protected_sources_are_never_model_inputs(german_model):
    layout_fields = german_model.estimator.layout_.field_names
    assert not {"personal_status_and_sex", "age_in_years", "foreign_worker"} & set(layout_fields)
    assert german_model.estimator.booster_.num_features() == german_model.estimator.layout_.n_columns


def test_scores_do_not_depend_on_protected_fields(german_model, german_dataset):
    cases = german_model.check(german_dataset.frame).frame
    changed = cases.copy()
    changed["age_in_years"] = 99
    changed["foreign_worker"] = "no"
    changed["personal_status_and_sex"] = "female : divorced/separated/married"
    np.testing.assert_array_equal(german_model.predict_proba(cases), german_model.predict_proba(changed))


def test_training_is_deterministic_for_a_seed(tmp_path, german_dataset, small_training):
    registry = ModelRegistry(tmp_path)
    first = registry.add("m", small_training)
    second = registry.add("m", train_small(german_dataset, seed=0))
    other = registry.add("m", train_small(german_dataset, seed=1))
    assert first.card.files == second.card.files and first.digest == second.digest
    assert other.digest != first.digest
    assert (first.version, second.version, other.version) == (1, 2, 3)


def test_platt_calibration_recovers_a_known_scaling():
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 200_000)
    y = rng.random(len(margin)) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))
    fitted = PlattCalibrator.fit(margin, y)
    assert fitted.a == pytest.approx(0.5, abs=0.01) and fitted.b == pytest.approx(-1.0, abs=0.02)


def test_estimator_follows_sklearn_conventions(german_dataset, german_model):
    model = CreditRiskClassifier(n_estimators=5)
    assert clone(model).get_params() == model.get_params()
    frame = german_model.check(german_dataset.frame).frame
    assert model.fit(frame, german_dataset.target, contract=german_model.contract) is model
    assert model.predict_proba(frame).shape == (1000, 2)
    with pytest.raises(ValueError, match="max_depth=0"):
        CreditRiskClassifier(max_depth=0).fit(frame, german_dataset.target, contract=german_model.contract)


def test_too_few_bad_cases_is_a_clear_error(german_dataset):
    from decision_review.datasets import Dataset

    tiny = Dataset(
        name="tiny",
        frame=german_dataset.frame.head(60),
        target=german_dataset.target.head(60) * 0 + (np.arange(60) < 5),
        ids=german_dataset.ids.head(60),
        protected_attributes=german_dataset.protected_attributes,
    )
    with pytest.raises(InvalidInput, match="5 bad and 55 good"):
        train(tiny, cv_folds=0)
