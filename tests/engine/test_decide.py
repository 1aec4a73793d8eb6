"""The engine: one vectorised `decide` whose answer for a case does not depend on its batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.engine import AUTO_OFF_RULE, INVALID_INPUT_RULE, DecisionEngine
from decision_review.errors import InvalidInput
from decision_review.modeling.estimator import SMALL_BATCH
from decision_review.policy import load_policy

POLICY = "policies/german_credit.yaml"


@pytest.fixture(scope="module")
def engine(model_registry) -> DecisionEngine:
    return DecisionEngine.from_policy_file(POLICY, model_registry)


@pytest.fixture(scope="module")
def cases(german_dataset) -> pd.DataFrame:
    frame = german_dataset.frame.copy()
    frame.insert(0, "case_id", german_dataset.ids.to_numpy())
    return frame


@pytest.fixture(scope="module")
def decided(engine, cases):
    return engine.decide(cases)


def test_every_case_gets_one_decision_in_input_order(decided, cases):
    frame = decided.frame
    assert list(frame["case_id"]) == list(cases["case_id"])
    assert set(frame["outcome"]) <= {"approve", "decline", "review"}
    assert frame["score"].between(0, 1).all()
    assert frame["error"].isna().all()


def test_scores_are_the_models_calibrated_probabilities(decided, engine, cases):
    checked = engine.model.check(cases)
    np.testing.assert_allclose(decided.frame["score"], engine.model.predict_proba(checked.frame))


def test_decisions_carry_provenance(decided, engine):
    row = decided.frame.iloc[0]
    assert row["policy_digest"] == engine.policy.digest
    assert row["model_digest"] == engine.model.digest
    assert (row["model_name"], row["model_version"]) == ("german_credit", 1)
    assert (row["approve_below"], row["decline_at_or_above"]) == (
        engine.policy.approve_below,
        engine.policy.decline_at_or_above,
    )


def test_thresholds_decide_when_no_rule_fires(decided, engine):
    frame = decided.frame
    by_threshold = frame[frame["winning_rule"].str.startswith("threshold:")]
    approve = by_threshold["winning_rule"] == "threshold:approve"
    assert (by_threshold.loc[approve, "score"] < engine.policy.approve_below).all()
    decline = by_threshold["winning_rule"] == "threshold:decline"
    assert (by_threshold.loc[decline, "score"] >= engine.policy.decline_at_or_above).all()


def test_same_input_twice_gives_identical_decisions(engine, cases, decided):
    again = engine.decide(cases)
    pd.testing.assert_frame_equal(decided.frame, again.frame)
    assert decided.frame["qa_sample"].sum() > 0, "the bundled policy samples some cases for QA"


def test_only_review_and_decline_are_explained(decided):
    frame = decided.frame
    explained = frame["reason_1_code"].notna()
    assert (explained == frame["outcome"].isin(["review", "decline"])).all()
    assert set(decided.contributions.index) == set(frame.index[explained])


def test_explain_all_and_none(engine, cases):
    some = cases.head(50)
    assert engine.decide(some, explain="all").frame["reason_1_code"].notna().all()
    none = engine.decide(some, explain="none")
    assert none.frame["reason_1_code"].isna().all() and none.contributions.empty


def test_contributions_add_up_to_the_score(decided):
    frame = decided.frame.loc[decided.contributions.index]
    log_odds = decided.contributions.sum(axis=1) + decided.base_values
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), frame["score"], rtol=1e-5)


def test_bad_rows_become_error_rows_and_the_rest_is_decided_as_alone(engine, cases, decided):
    batch = cases.head(40).astype({"credit_amount": object}).copy()
    batch.loc[3, "credit_amount"] = "abc"
    batch.loc[7, "purpose"] = None
    batch.loc[9, "case_id"] = None
    out = engine.decide(batch).frame
    bad = out.index.isin([3, 7, 9])
    # The bundled policy routes invalid input to the data-quality queue.
    assert (out.loc[bad, "winning_rule"] == INVALID_INPUT_RULE).all()
    assert (out.loc[bad, "queue"] == "data_quality").all()
    assert "credit_amount" in out.loc[3, "error"] and "'abc'" in out.loc[3, "error"]
    assert "purpose" in out.loc[7, "error"]
    assert "case_id" in out.loc[9, "error"]
    good = out.loc[~bad, ["case_id", "outcome", "score", "winning_rule"]].reset_index(drop=True)
    expected = decided.frame.iloc[:40].loc[~bad, ["case_id", "outcome", "score", "winning_rule"]]
    pd.testing.assert_frame_equal(good, expected.reset_index(drop=True))


def test_invalid_input_is_an_error_row_when_the_policy_says_so(model_registry, cases, tmp_path):
    text = Path(POLICY).read_text()
    text = text.replace("on_invalid_input:\n  action: review", "on_invalid_input:\n  action: error")
    path = tmp_path / "strict.yaml"
    path.write_text(text)
    strict = DecisionEngine.from_policy_file(path, model_registry)
    out = strict.decide(cases.head(5).drop(columns=["purpose"])).frame
    assert (out["outcome"] == "error").all()
    assert out["error"].str.contains("column 'purpose' is missing").all()
    assert out["score"].isna().all() and out["queue"].isna().all()


def test_missing_id_column_is_a_clear_error(engine, cases):
    with pytest.raises(InvalidInput, match="no 'case_id' column"):
        engine.decide(cases.drop(columns=["case_id"]))


def test_stop_switch_sends_every_automatic_decision_to_review(engine, cases, decided):
    off = engine.decide(cases, auto_decisions=False).frame
    assert (off["outcome"] == "review").all()
    was_auto = decided.frame["outcome"].isin(["approve", "decline"])
    assert (off.loc[was_auto, "winning_rule"] == AUTO_OFF_RULE).all()
    assert (off.loc[was_auto, "auto_outcome"] == decided.frame.loc[was_auto, "outcome"]).all()


def test_policy_for_another_model_is_refused(model_registry):
    credit = model_registry.load("credit_data", 1)
    policy = load_policy(POLICY, model_registry.load("german_credit", 1).contract)
    with pytest.raises(InvalidInput, match="uses model german_credit v1"):
        DecisionEngine(credit, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_case_is_decided_the_same_alone_or_in_any_batch(engine, cases, decided, data):
    rows = data.draw(st.lists(st.integers(0, len(cases) - 1), min_size=1, max_size=30, unique=True))
    out = engine.decide(cases.iloc[rows]).frame.reset_index(drop=True)
    expected = decided.frame.iloc[rows].reset_index(drop=True)
    pd.testing.assert_frame_equal(out, expected)


JUNK = [None, "", "  ", "abc", 12.5, -5, 10**9, "space travel", " 7 ", float("inf")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_cases_too_are_decided_the_same_alone_or_in_a_batch(engine, cases, data):
    """Rows with junk in any field (errors, reviews for invalid input, flags): batch = one by one."""
    rows = data.draw(st.lists(st.integers(0, len(cases) - 1), min_size=2, max_size=12, unique=True))
    batch = cases.iloc[rows].astype(object).reset_index(drop=True)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(batch) - 1))
        column = data.draw(st.sampled_from(list(batch.columns)))
        batch.at[i, column] = data.draw(st.sampled_from(JUNK))
    together = engine.decide(batch, explain="all").frame
    alone = pd.concat([engine.decide(batch.iloc[[i]], explain="all").frame for i in range(len(batch))])
    # The error column is text when some row of the batch has an error, else empty (None) values.
    pd.testing.assert_frame_equal(
        alone.reset_index(drop=True).astype({"error": object}).fillna({"error": np.nan}),
        together.astype({"error": object}).fillna({"error": np.nan}),
    )


def test_small_and_large_batches_score_and_explain_identically(engine, cases):
    """Small batches run the trees on one thread, large ones on all: the same numbers exactly."""
    large = pd.concat([cases] * 2, ignore_index=True).assign(case_id=lambda f: [f"L{i}" for i in f.index])
    assert len(large) >= SMALL_BATCH
    whole = engine.decide(large, explain="all")
    parts = [engine.decide(large.iloc[i : i + 150], explain="all") for i in range(0, len(large), 150)]
    np.testing.assert_array_equal(whole.frame["score"], pd.concat([p.frame["score"] for p in parts]))
    np.testing.assert_array_equal(
        whole.contributions.to_numpy(), np.vstack([p.contributions.to_numpy() for p in parts])
    )


def test_the_decisions_frame_is_an_ordinary_frame(engine, cases):
    """Built from blocks: editing cells in place changes those cells and nothing else."""
    frame = engine.decide(cases.head(5), explain="none").frame
    expected = frame.copy()
    edits = {
        (0, "queue"): "elsewhere",
        (1, "reason_1_field"): "edited",
        (2, "score"): 0.5,
        (3, "priority"): 9,
        (4, "model_version"): 7,
    }
    for (row, column), value in edits.items():
        frame.loc[row, column] = value
        expected.loc[row, column] = value
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.loc[1, "reason_2_field"] != "edited" and frame.loc[1, "reason_1_code"] != "edited"
