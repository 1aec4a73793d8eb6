"""Backtest = decide: the replay's per-case outcomes are what `DecisionEngine.decide` returns.

Checked through the real engine, model and policies: at each policy's own thresholds (every
column the engine decides), at other points of a threshold grid (a real `decide` with a policy
whose thresholds were edited in its YAML), on rows the engine rejects, and for the QA sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decision_review.backtest import replay_policy, run_backtest, score_cases
from decision_review.backtest.replay import OUTCOMES
from tests.backtest.conftest import FRAUD_POLICY, GERMAN_POLICY, variant

DECIDED_COLUMNS = ["outcome", "winning_rule", "reason", "queue", "qa_sample", "auto_outcome"]


def _plain(series: pd.Series) -> list:
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v for v in series]


def _assert_same_as_decide(replay, decided: pd.DataFrame) -> None:
    ours = replay.decided.to_pandas()
    for column in DECIDED_COLUMNS:
        assert _plain(ours[column].astype(object)) == _plain(decided[column].astype(object)), column
    assert [list(h) for h in ours["rule_hits"]] == [list(h) for h in decided["rule_hits"]]
    assert _plain(ours["priority"].astype(object)) == _plain(decided["priority"].astype(object))
    np.testing.assert_array_equal(replay.score, decided["score"].to_numpy(dtype=float))
    assert list(np.asarray(OUTCOMES)[replay.outcome]) == list(decided["outcome"])


@pytest.fixture(scope="module")
def awkward_german(german_history) -> pd.DataFrame:
    """German credit cases with rows the engine refuses or flags: no id, text in a number, a gap."""
    cases = german_history.cases.copy()
    cases["case_id"] = cases["case_id"].astype(object)
    cases.loc[3, "case_id"] = "   "
    cases["duration_in_month"] = cases["duration_in_month"].astype(object)
    cases.loc[5, "duration_in_month"] = "twelve"
    cases.loc[8, "purpose"] = None
    cases.loc[11, "credit_amount"] = 1_000_000  # out of the trained range: a referral rule
    cases.loc[13, "purpose"] = "spaceship"  # unseen category
    return cases


def test_german_replay_equals_decide_on_every_column(german_engine, awkward_german):
    decided = german_engine.decide(awkward_german, explain="none").frame
    assert decided["error"].notna().sum() >= 2  # the blank id and the text in a number
    replay = replay_policy(german_engine.policy, score_cases(german_engine.model, awkward_german))
    _assert_same_as_decide(replay, decided)
    assert replay.decided["qa_sample"].sum() > 0


def test_fraud_replay_equals_decide(fraud_engine_bt, fraud_history):
    decided = fraud_engine_bt.decide(fraud_history.cases, explain="none").frame
    replay = replay_policy(fraud_engine_bt.policy, score_cases(fraud_engine_bt.model, fraud_history.cases))
    _assert_same_as_decide(replay, decided)


@pytest.mark.parametrize(
    ("approve_below", "decline_at_or_above"),
    [(0.05, 0.3), (0.3, 0.9), (0.45, 0.45), (0.0, 1.0)],
)
def test_a_grid_point_equals_decide_with_those_thresholds(
    model_registry, german_engine, awkward_german, approve_below, decline_at_or_above
):
    replay = replay_policy(german_engine.policy, score_cases(german_engine.model, awkward_german))
    edited = variant(
        GERMAN_POLICY, model_registry, approve_below=approve_below, decline_at_or_above=decline_at_or_above
    )
    decided = edited.decide(awkward_german, explain="none").frame
    ours = replay.decisions_at(approve_below, decline_at_or_above)
    assert list(ours["outcome"]) == list(decided["outcome"])
    assert list(ours["winning_rule"]) == list(decided["winning_rule"])
    assert list(ours["qa_sample"]) == list(decided["qa_sample"])
    assert list(ours["auto_outcome"]) == list(decided["auto_outcome"])
    codes = replay.outcome_codes(approve_below, decline_at_or_above)
    assert list(np.asarray(OUTCOMES)[codes]) == list(decided["outcome"])


def test_fraud_grid_point_equals_decide(model_registry, fraud_engine_bt, fraud_history):
    replay = replay_policy(fraud_engine_bt.policy, score_cases(fraud_engine_bt.model, fraud_history.cases))
    edited = variant(FRAUD_POLICY, model_registry, approve_below=0.005, decline_at_or_above=0.2)
    decided = edited.decide(fraud_history.cases, explain="none").frame
    ours = replay.decisions_at(0.005, 0.2)
    assert list(ours["outcome"]) == list(decided["outcome"])
    assert list(ours["winning_rule"]) == list(decided["winning_rule"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    a=st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)),
    d=st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)),
)
def test_any_thresholds_equal_decide(model_registry, german_engine, german_history, a, d):
    approve_below, decline_at_or_above = min(a, d), max(a, d)
    cases = german_history.cases.iloc[:200]
    replay = replay_policy(german_engine.policy, score_cases(german_engine.model, cases))
    edited = variant(
        GERMAN_POLICY, model_registry, approve_below=approve_below, decline_at_or_above=decline_at_or_above
    )
    decided = edited.decide(cases, explain="none").frame
    codes = replay.outcome_codes(approve_below, decline_at_or_above)
    assert list(np.asarray(OUTCOMES)[codes]) == list(decided["outcome"])


def test_backtest_outcomes_equal_decide_for_both_policies(model_registry, german_engine, german_history):
    candidate = variant(GERMAN_POLICY, model_registry, approve_below=0.2, version=2)
    run = run_backtest(german_history, candidate, german_engine)
    cases = run.cases()
    assert list(cases["candidate_outcome"]) == list(
        candidate.decide(german_history.cases, explain="none").frame["outcome"]
    )
    assert list(cases["baseline_outcome"]) == list(
        german_engine.decide(german_history.cases, explain="none").frame["outcome"]
    )


def test_a_baseline_on_the_same_model_reuses_the_scores(
    model_registry, german_engine, german_history, monkeypatch
):
    candidate = variant(GERMAN_POLICY, model_registry, approve_below=0.2, version=2)
    assert candidate.model is german_engine.model or candidate.model.digest == german_engine.model.digest
    calls = []
    for model in {
        id(candidate.model): candidate.model,
        id(german_engine.model): german_engine.model,
    }.values():
        original = model.predict_proba
        monkeypatch.setattr(
            model,
            "predict_proba",
            lambda frame, original=original: calls.append(len(frame)) or original(frame),
        )
    run_backtest(german_history, candidate, german_engine)
    assert calls == [len(german_history)]


def test_policies_on_different_models_are_scored_by_each(trained_registry, german_engine, german_history):
    other = variant(GERMAN_POLICY, trained_registry, version=2)
    assert other.model.digest != german_engine.model.digest
    run = run_backtest(german_history, other, german_engine)
    assert not np.allclose(run.replays["candidate"].score, run.replays["baseline"].score)
    np.testing.assert_allclose(
        run.replays["candidate"].score, other.decide(german_history.cases, explain="none").frame["score"]
    )
    assert any("different models" in note for note in run.report.notes)
