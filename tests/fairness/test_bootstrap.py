"""Bootstrap intervals: seeded, around the estimate, narrower with more cases, equal to row resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_review.fairness import fairness_report
from decision_review.fairness.bootstrap import interval, resample_counts, tabulate
from tests.fairness.conftest import random_frame

STAGES = {"auto": "auto_outcome", "final": "final_outcome"}


def _report(decisions, groups, **kwargs):
    kwargs.setdefault("n_bootstrap", 200)
    return fairness_report(decisions, groups, stages=STAGES, label="bad", score="score", **kwargs)


def test_same_seed_same_report_other_seed_other_intervals_same_estimates(random_decisions):
    decisions, groups = random_decisions
    first, again, other = (
        _report(decisions, groups),
        _report(decisions, groups),
        _report(decisions, groups, seed=1),
    )
    assert first.model_dump_json() == again.model_dump_json()
    a, b = (
        first.stage("final").attribute("sex").group("female"),
        other.stage("final").attribute("sex").group("female"),
    )
    assert a.selection_rate.value == b.selection_rate.value
    assert (a.selection_rate.low, a.selection_rate.high) != (b.selection_rate.low, b.selection_rate.high)


def test_adding_a_stage_leaves_the_other_stages_intervals_unchanged(random_decisions):
    decisions, groups = random_decisions
    one = fairness_report(decisions, groups, stages={"final": "final_outcome"}, n_bootstrap=50)
    two = fairness_report(
        decisions, groups, stages={"model": "model_outcome", "final": "final_outcome"}, n_bootstrap=50
    )
    assert one.stage("final") == two.stage("final")


def test_without_resamples_there_are_no_intervals(random_decisions):
    decisions, groups = random_decisions
    group = _report(decisions, groups, n_bootstrap=0).stage("final").attribute("sex").group("male")
    assert group.selection_rate.value is not None
    assert group.selection_rate.low is None and group.selection_rate.high is None


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=20, max_value=300), min_size=2, max_size=4),
    rates=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=4, max_size=4),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_every_interval_contains_its_estimate(sizes, rates, seed):
    rng = np.random.default_rng(seed)
    group = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    approve = rng.random(len(group)) < np.repeat(rates[: len(sizes)], sizes)
    decisions = pd.DataFrame({"out": np.where(approve, "approve", "decline")})
    report = fairness_report(
        decisions, pd.DataFrame({"g": group}), stages={"s": "out"}, n_bootstrap=200, seed=seed
    )
    attribute = report.stage("s").attribute("g")
    for g in attribute.groups:
        for rate in (g.selection_rate, g.decline_rate):
            assert rate.low <= rate.value <= rate.high


@settings(max_examples=15, deadline=None)
@given(
    approved=st.integers(min_value=5, max_value=45),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_intervals_narrow_as_the_number_of_cases_grows(approved, seed):
    # Same approval rates, four times the cases: the interval should be about half as wide.
    outcome = ["approve"] * approved + ["decline"] * (50 - approved) + ["approve"] * 30 + ["decline"] * 20
    group = ["a"] * 50 + ["b"] * 50
    widths = []
    for copies in (1, 4):
        decisions = pd.DataFrame({"out": outcome * copies})
        report = fairness_report(
            decisions, pd.DataFrame({"g": group * copies}), stages={"s": "out"}, n_bootstrap=300, seed=seed
        )
        rate = report.stage("s").attribute("g").group("a").selection_rate
        widths.append(rate.high - rate.low)
    assert widths[1] < 0.75 * widths[0]


def test_cell_count_resampling_matches_resampling_rows():
    """The multinomial shortcut gives the same intervals as drawing cases with replacement."""
    decisions, groups = random_frame(1500, seed=3)
    report = fairness_report(
        decisions,
        groups,
        stages={"final": "final_outcome"},
        label="bad",
        score="score",
        n_bootstrap=2000,
        seed=5,
    )
    attribute = report.stage("final").attribute("age_band")
    rng = np.random.default_rng(11)
    approve = (decisions["final_outcome"] == "approve").to_numpy()
    bad, score = decisions["bad"].to_numpy(), decisions["score"].to_numpy()
    codes = groups["age_band"].map({"<25": 0, "25-49": 1, "50+": 2}).to_numpy()
    sel, gap = [], []
    for _ in range(2000):
        i = rng.integers(0, len(approve), len(approve))
        c = codes[i]
        sel.append(np.bincount(c, approve[i], 3) / np.bincount(c, minlength=3))
        known = ~np.isnan(bad[i])
        n_known = np.bincount(c[known], minlength=3)
        gap.append(
            (np.bincount(c[known], bad[i][known], 3) - np.bincount(c[known], score[i][known], 3)) / n_known
        )
    sel_low, sel_high = np.quantile(sel, [0.025, 0.975], axis=0)
    gap_low, gap_high = np.quantile(gap, [0.025, 0.975], axis=0)
    for j, name in enumerate(["<25", "25-49", "50+"]):
        g = attribute.group(name)
        assert g.selection_rate.low == pytest.approx(sel_low[j], abs=0.01)
        assert g.selection_rate.high == pytest.approx(sel_high[j], abs=0.01)
        assert g.calibration.gap.low == pytest.approx(gap_low[j], abs=0.012)
        assert g.calibration.gap.high == pytest.approx(gap_high[j], abs=0.012)


def test_tabulate_counts_cases_and_score_moments_per_cell():
    cells = tabulate(np.array([3, 1, 3, 3, 7]), np.array([0.2, 0.5, 0.4, 0.6, 0.9]))
    assert cells.keys.tolist() == [1, 3, 7]
    assert cells.counts.tolist() == [1, 3, 1]
    assert cells.score_mean == pytest.approx([0.5, 0.4, 0.9])
    assert cells.score_var == pytest.approx([0.0, np.var([0.2, 0.4, 0.6]), 0.0])
    sparse_keys = tabulate(np.array([10**9, 5, 10**9]))
    assert sparse_keys.keys.tolist() == [5, 10**9] and sparse_keys.counts.tolist() == [1, 2]


def test_resampled_counts_keep_the_total_and_interval_ignores_undefined_resamples():
    rng = np.random.default_rng(0)
    counts = resample_counts(np.array([5, 0, 995]), 100, rng)
    assert counts.shape == (100, 3) and (counts.sum(axis=1) == 1000).all() and (counts[:, 1] == 0).all()
    low, high = interval(np.array([[np.nan, np.nan], [0.2, np.nan], [0.4, np.nan]]), 0.5)
    assert low[0] == pytest.approx(0.25) and high[0] == pytest.approx(0.35)
    assert np.isnan(low[1]) and np.isnan(high[1])


@settings(max_examples=30, deadline=None)
@given(
    resamples=st.integers(min_value=1, max_value=60),
    columns=st.integers(min_value=1, max_value=5),
    missing=st.floats(min_value=0.0, max_value=1.0),
    confidence=st.floats(min_value=0.5, max_value=0.99),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_interval_equals_numpy_nanquantile(resamples, columns, missing, confidence, seed):
    rng = np.random.default_rng(seed)
    samples = rng.random((resamples, columns))
    samples[rng.random(samples.shape) < missing] = np.nan
    low, high = interval(samples, confidence)
    alpha = (1 - confidence) / 2
    for j in range(columns):
        column = samples[:, j][~np.isnan(samples[:, j])]
        if len(column) == 0:
            assert np.isnan(low[j]) and np.isnan(high[j])
        else:
            assert low[j] == pytest.approx(np.quantile(column, alpha))
            assert high[j] == pytest.approx(np.quantile(column, 1 - alpha))
