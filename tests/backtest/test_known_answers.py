"""Known answers: the backtest's figures against fairlearn, against plain counting, and against decide.

Every expected value here is computed from the engine's own `decide` output by fairlearn or by
a few lines of plain Python, never by the backtest code under test.
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from decision_review.backtest import BacktestSettings, SweepTargets, grid, run_backtest, threshold_sweep
from decision_review.backtest.history import history_from_frame
from tests.backtest.conftest import GERMAN_POLICY, variant

SETTINGS = BacktestSettings(n_bootstrap=0, min_group_size=1, intersections=False)


@pytest.fixture(scope="module")
def german_run(german_engine, german_history):
    return run_backtest(german_history, german_engine, settings=SETTINGS)


@pytest.fixture(scope="module")
def decided(german_engine, german_history):
    return german_engine.decide(german_history.cases, explain="none").frame


@pytest.mark.parametrize("attribute", ["sex", "age_band", "foreign_worker"])
def test_auto_stage_figures_equal_fairlearn(german_run, german_history, decided, attribute):
    """Approval = the positive prediction, a good applicant (label 0) = the positive class."""
    y_true = (german_history.outcome == 0).astype(int)
    y_pred = (decided["outcome"] == "approve").to_numpy().astype(int)
    groups = german_history.groups[attribute].to_numpy()
    report = german_run.report.candidate.fairness.stage("auto").attribute(attribute)
    frame = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    for group, row in frame.by_group.iterrows():
        g = report.group(str(group))
        assert g.selection_rate.value == pytest.approx(row["sr"])
        assert g.tpr.value == pytest.approx(row["tpr"])
        assert g.fpr.value == pytest.approx(row["fpr"])
    assert report.demographic_parity_difference.value == pytest.approx(
        demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
    )
    assert report.equalized_odds_difference.value == pytest.approx(
        equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    )


def test_model_stage_is_the_score_alone_at_the_thresholds(german_run, german_history, decided, german_engine):
    score = decided["score"].to_numpy()
    model_approve = (score < german_engine.policy.approve_below).astype(int)
    groups = german_history.groups["sex"].to_numpy()
    by_group = MetricFrame(
        metrics=selection_rate, y_true=np.zeros(len(score)), y_pred=model_approve, sensitive_features=groups
    ).by_group
    report = german_run.report.candidate.fairness.stage("model").attribute("sex")
    for group, rate in by_group.items():
        assert report.group(str(group)).selection_rate.value == pytest.approx(rate)


def test_a_tiny_frame_by_hand(german_engine, german_history):
    """Sixteen applicants: approval rates, AIR, bad rates and losses counted by hand from decide."""
    sex = german_history.groups["sex"]
    rows = [*sex.index[sex == "female"][:8], *sex.index[sex == "male"][:8]]
    cases = german_history.cases.iloc[rows].reset_index(drop=True)
    history = history_from_frame(
        cases,
        contract=german_engine.model.contract,
        name="tiny",
        amount_column="credit_amount",
        currency="DM",
    )
    run = run_backtest(history, german_engine, settings=SETTINGS)
    result = run.report.candidate
    decided = german_engine.decide(cases, explain="none").frame
    outcomes = list(decided["outcome"])
    sexes = list(history.groups["sex"])
    bad = list(cases["bad"])
    approved = Counter(s for s, o in zip(sexes, outcomes, strict=True) if o == "approve")
    total = Counter(sexes)
    rate = {s: approved[s] / total[s] for s in total}
    report = result.fairness.stage("auto").attribute("sex")
    for group in total:
        assert report.group(group).selection_rate.value == pytest.approx(rate[group])
    assert report.group("female").air.value == pytest.approx(rate["female"] / rate["male"])
    assert result.approve.count == outcomes.count("approve")
    assert result.review.count == outcomes.count("review")
    approved_bad = [b for b, o in zip(bad, outcomes, strict=True) if o == "approve"]
    assert (result.bad_rate_approved.bad, result.bad_rate_approved.known) == (
        sum(approved_bad),
        len(approved_bad),
    )
    expected = sum(
        Decimal(repr(float(p))) * int(a)
        for p, a, o in zip(decided["score"], cases["credit_amount"], outcomes, strict=True)
        if o == "approve"
    )
    assert result.losses.expected == int(expected.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert result.losses.realised == sum(
        int(a)
        for a, b, o in zip(cases["credit_amount"], bad, outcomes, strict=True)
        if o == "approve" and b == 1
    )


def test_sweep_point_equals_a_real_decide_at_those_thresholds(model_registry, german_engine, german_history):
    run = run_backtest(german_history, german_engine, settings=SETTINGS)
    sweep = threshold_sweep(
        run.replays["candidate"],
        german_history,
        approve_grid=grid("0.1:0.4:4"),
        decline_grid=grid("0.5,0.7"),
        targets=SweepTargets(min_group_size=50),
        settings=SETTINGS,
    )
    assert len(sweep.points) == 8
    for point in (sweep.points[1], sweep.points[6]):
        edited = variant(
            GERMAN_POLICY,
            model_registry,
            approve_below=point.approve_below,
            decline_at_or_above=point.decline_at_or_above,
        )
        frame = edited.decide(german_history.cases, explain="none").frame
        outcome = frame["outcome"].to_numpy()
        assert point.approve == pytest.approx((outcome == "approve").mean())
        assert point.decline == pytest.approx((outcome == "decline").mean())
        assert point.review == pytest.approx((outcome == "review").mean())
        approved = outcome == "approve"
        assert point.bad_rate_approved == pytest.approx(german_history.outcome[approved].mean())
        expected = Decimal(repr(float(np.dot(frame["score"][approved], german_history.amount[approved]))))
        assert point.expected_loss == int(expected.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        ages = german_history.groups["age_band"].to_numpy()
        rates = {g: approved[ages == g].mean() for g in np.unique(ages)}
        for group, air in point.air["age_band"].items():
            assert air == pytest.approx(rates[group] / rates["35-49"])


def test_sweep_figures_equal_the_fairness_report_at_every_point(german_engine, german_history):
    run = run_backtest(german_history, german_engine, settings=SETTINGS)
    replay = run.replays["candidate"]
    sweep = threshold_sweep(
        replay, german_history, approve_grid=grid("0.05:0.6:12"), settings=SETTINGS, intersections=True
    )
    from decision_review.backtest import policy_fairness

    for point in sweep.points[::3]:
        report, _ = policy_fairness(
            replay,
            german_history,
            SETTINGS,
            approve_below=point.approve_below,
            decline_at_or_above=point.decline_at_or_above,
        )
        for attribute in report.stage("auto").attributes:
            for g in attribute.groups:
                ours = point.air[attribute.attribute][g.group]
                if g.air.value is None or g.reference:
                    continue
                assert ours == pytest.approx(g.air.value), (attribute.attribute, g.group)
