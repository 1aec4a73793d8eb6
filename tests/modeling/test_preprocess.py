"""The one-hot layout: what the model sees for known, unseen and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from decision_review.errors import InvalidInput
from decision_review.modeling.metrics import evaluate
from decision_review.modeling.preprocess import OneHotLayout
from decision_review.schemas import FieldKind, FieldSpec, InputContract

CONTRACT = InputContract(
    fields=[
        FieldSpec(name="amount", kind=FieldKind.NUMERIC, nullable=True, minimum=0, maximum=10),
        FieldSpec(name="home", kind=FieldKind.CATEGORICAL, nullable=True, categories=["own", "rent"]),
        FieldSpec(name="age", kind=FieldKind.NUMERIC, model_input=False, minimum=18, maximum=90),
    ]
)


def test_known_unseen_and_missing_values_encode_as_documented():
    layout = OneHotLayout.from_contract(CONTRACT)
    assert layout.columns == ["amount", "home=own", "home=rent"]  # age is not a model input
    frame = pd.DataFrame(
        {"amount": [1.5, np.nan, 3.0, 4.0], "home": ["rent", "own", "boat", None], "age": [30, 40, 50, 60]}
    ).astype({"home": "str"})
    expected = np.array([[1.5, 0, 1], [np.nan, 1, 0], [3.0, 0, 0], [4.0, np.nan, np.nan]], dtype=np.float32)
    for variant in (frame, frame.astype({"home": object})):
        np.testing.assert_array_equal(layout.transform(variant), expected)
    assert OneHotLayout.from_dict(layout.to_dict()) == layout


def test_text_in_a_numeric_field_is_refused_not_guessed():
    layout = OneHotLayout.from_contract(CONTRACT)
    with pytest.raises(InvalidInput, match="'amount' holds values that are not numbers"):
        layout.transform(pd.DataFrame({"amount": ["x"], "home": ["own"]}))


def test_shipped_artifact_reproduces_its_cards_held_out_metrics(german_model, german_dataset):
    """The card describes this very artifact: re-score the held-out split and compare."""
    y = german_dataset.target.to_numpy()
    _, test = train_test_split(
        np.arange(len(y)), test_size=0.2, stratify=y, random_state=german_model.card.seed
    )
    cases = german_model.check(german_dataset.frame.iloc[test]).frame
    recomputed = evaluate(y[test], german_model.predict_proba(cases))
    card = german_model.card.held_out.overall
    assert recomputed.auc == pytest.approx(card.auc, abs=1e-9)
    assert recomputed.brier == pytest.approx(card.brier, abs=1e-6)
