"""The report's figures equal fairlearn's (and pandas') for the same inputs and conventions.

Conventions under test: selection = approval over the cases a stage decided; TPR/FPR take
"approve" as the positive prediction and a good applicant (label 0) as the positive class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.fairness import FairnessReport, fairlearn_inputs, fairness_report

STAGES = {
    "model": "model_outcome",
    "auto": "auto_outcome",
    "human": "human_outcome",
    "final": "final_outcome",
}
ATTRIBUTES = [["sex"], ["age_band"], ["region"], ["sex", "age_band"], ["age_band", "region"]]


@pytest.fixture(scope="module")
def report(random_decisions: tuple[pd.DataFrame, pd.DataFrame]) -> FairnessReport:
    decisions, groups = random_decisions
    return fairness_report(decisions, groups, stages=STAGES, label="bad", score="score", n_bootstrap=20)


def _by_group(mf: MetricFrame, members: list[str]) -> dict[str, pd.Series]:
    """fairlearn's by_group keyed by our group names ("female x <25" for an intersection)."""
    frame = mf.by_group if isinstance(mf.by_group, pd.DataFrame) else mf.by_group.to_frame()
    keys = [k if isinstance(k, tuple) else (k,) for k in frame.index]
    return {" x ".join(map(str, k)): frame.iloc[i] for i, k in enumerate(keys)}


def _features(groups: pd.DataFrame, members: list[str], mask: pd.Series) -> pd.Series | pd.DataFrame:
    return groups.loc[mask, members[0]] if len(members) == 1 else groups.loc[mask, members]


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("members", ATTRIBUTES, ids=" x ".join)
def test_selection_rates_and_parity_equal_fairlearn(report, random_decisions, stage, members):
    decisions, groups = random_decisions
    outcome = decisions[STAGES[stage]]
    decided = outcome.notna()
    approved = (outcome[decided] == "approve").astype(int)
    features = _features(groups, members, decided)
    expected = _by_group(
        MetricFrame(metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=features),
        members,
    )
    attribute = report.stage(stage).attribute(" x ".join(members))
    expected = {name: row for name, row in expected.items() if not np.isnan(row["selection_rate"])}
    with_cases = {g.group: g for g in attribute.groups if g.n > 0}
    assert set(with_cases) == set(expected)
    for name, row in expected.items():
        assert with_cases[name].selection_rate.value == pytest.approx(row["selection_rate"], rel=1e-12)
    assert attribute.demographic_parity_difference.value == pytest.approx(
        demographic_parity_difference(approved, approved, sensitive_features=features), rel=1e-12
    )


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("members", ATTRIBUTES, ids=" x ".join)
def test_true_false_positive_rates_and_equalised_odds_equal_fairlearn(
    report, random_decisions, stage, members
):
    decisions, groups = random_decisions
    outcome, bad = decisions[STAGES[stage]], decisions["bad"]
    known = outcome.notna() & bad.notna()
    y_pred = (outcome[known] == "approve").astype(int)
    y_true = (bad[known] == 0).astype(int)  # positive class: a good applicant
    features = _features(groups, members, known)
    expected = _by_group(
        MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=features,
        ),
        members,
    )
    attribute = report.stage(stage).attribute(" x ".join(members))
    for name, row in expected.items():
        group = attribute.group(name)
        if group.n == 0:
            continue
        assert group.n_good > 0 and group.n_bad > 0, "the fixture has both outcomes in every group"
        assert group.tpr.value == pytest.approx(row["tpr"], rel=1e-12)
        assert group.fpr.value == pytest.approx(row["fpr"], rel=1e-12)
    assert attribute.equalized_odds_difference.value == pytest.approx(
        equalized_odds_difference(y_true, y_pred, sensitive_features=features), rel=1e-12
    )


@pytest.mark.parametrize("stage", list(STAGES))
def test_air_referral_and_calibration_equal_a_pandas_computation(report, random_decisions, stage):
    decisions, groups = random_decisions
    outcome = decisions[STAGES[stage]]
    decided = outcome.notna()
    frame = pd.DataFrame(
        {
            "sex": groups["sex"],
            "approve": outcome == "approve",
            "review": outcome == "review",
            "bad": decisions["bad"],
            "score": decisions["score"],
        }
    )[decided]
    rates = frame.groupby("sex")[["approve", "review"]].mean()
    labelled = frame[frame["bad"].notna()].groupby("sex")[["bad", "score"]].agg(["mean", "size"])
    attribute = report.stage(stage).attribute("sex")
    reference = rates["approve"].idxmax()
    assert attribute.reference_group == reference
    assert attribute.reference_basis == "highest selection rate"
    for name in rates.index:
        group = attribute.group(name)
        assert group.air.value == pytest.approx(rates.loc[name, "approve"] / rates.loc[reference, "approve"])
        assert group.referral_rate.value == pytest.approx(rates.loc[name, "review"])
        assert group.calibration.n == labelled.loc[name, ("bad", "size")]
        assert group.calibration.observed_bad_rate.value == pytest.approx(labelled.loc[name, ("bad", "mean")])
        assert group.calibration.mean_score.value == pytest.approx(labelled.loc[name, ("score", "mean")])
        assert group.calibration.gap.value == pytest.approx(
            labelled.loc[name, ("bad", "mean")] - labelled.loc[name, ("score", "mean")]
        )


def test_fairlearn_inputs_reproduce_the_report_with_fairlearn(report, random_decisions):
    decisions, groups = random_decisions
    y_true, y_pred, mask = fairlearn_inputs(decisions["human_outcome"], decisions["bad"])
    mf = MetricFrame(
        metrics=true_positive_rate,
        y_true=y_true[mask],
        y_pred=y_pred[mask],
        sensitive_features=groups["sex"][mask],
    )
    for name, value in mf.by_group.items():
        assert report.stage("human").attribute("sex").group(name).tpr.value == pytest.approx(value)


@settings(max_examples=30, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "unknown"]),
            st.sampled_from(["x", "y"]),
            st.sampled_from(["approve", "decline", "review", None]),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_selection_rates_equal_fairlearn_for_any_small_frame(data):
    groups = pd.DataFrame({"p": [d[0] for d in data], "q": [d[1] for d in data]})
    decisions = pd.DataFrame({"out": pd.Series([d[2] for d in data], dtype=object)})
    decided = decisions["out"].notna()
    report = fairness_report(decisions, groups, stages={"s": "out"}, n_bootstrap=5, min_group_size=3)
    for members in (["p"], ["q"], ["p", "q"]):
        attribute = report.stage("s").attribute(" x ".join(members))
        if not decided.any():
            assert all(g.n == 0 and g.selection_rate.value is None for g in attribute.groups)
            assert attribute.demographic_parity_difference.value is None
            continue
        approved = (decisions["out"][decided] == "approve").astype(int)
        features = _features(groups, members, decided)
        mf = MetricFrame(
            metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=features
        )
        expected = _by_group(mf, members)
        for name, row in expected.items():
            if np.isnan(row["selection_rate"]):  # fairlearn lists an empty intersection as NaN
                assert attribute.group(name).n == 0 and attribute.group(name).selection_rate.value is None
            else:
                assert attribute.group(name).selection_rate.value == pytest.approx(
                    row["selection_rate"], rel=1e-12
                )
        assert {g.group for g in attribute.groups if g.n > 0} == {
            name for name, row in expected.items() if not np.isnan(row["selection_rate"])
        }
        assert attribute.demographic_parity_difference.value == pytest.approx(mf.difference(), rel=1e-12)
        assert sum(g.n for g in attribute.groups) == int(decided.sum())
        assert np.isfinite([g.selection_rate.value for g in attribute.groups if g.n > 0]).all()
