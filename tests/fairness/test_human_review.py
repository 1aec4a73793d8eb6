"""Overrides by group and by reviewer, worked out by hand on ten cases."""

from __future__ import annotations

import pandas as pd
import pytest

from decision_review.fairness import fairness_report


@pytest.fixture
def report():
    decisions = pd.DataFrame(
        {
            "human": [
                "approve",
                "decline",
                "approve",
                "approve",
                "decline",
                "approve",
                None,
                None,
                None,
                None,
            ],
            "reviewer": ["ann", "ann", "ann", "ann", "bob", "bob", "bob", None, None, None],
            "overridden": [False, True, True, False, True, False, None, None, None, False],
        }
    )
    groups = pd.DataFrame({"sex": ["F", "F", "M", "M", "F", "M", "M", "F", "M", "F"]})
    return fairness_report(
        decisions,
        groups,
        stages={"human": "human"},
        reviewer="reviewer",
        override="overridden",
        min_group_size=3,
        n_bootstrap=100,
    )


def test_rates_by_reviewer(report):
    ann, bob = report.human_review.reviewers
    assert (ann.reviewer, ann.n, ann.small) == ("ann", 4, False)
    assert (ann.approval_rate.value, ann.decline_rate.value, ann.override_rate.value) == (0.75, 0.25, 0.5)
    assert (bob.reviewer, bob.n) == ("bob", 3)
    assert (bob.approval_rate.value, bob.decline_rate.value, bob.override_rate.value) == (0.5, 0.5, 0.5)
    assert ann.approval_rate.low <= 0.75 <= ann.approval_rate.high


def test_override_rates_by_group(report):
    by_sex = next(a for a in report.human_review.overrides_by_group if a.attribute == "sex")
    assert (by_sex.group("F").n, by_sex.group("F").override_rate.value) == (4, 0.5)
    assert (by_sex.group("M").n, by_sex.group("M").override_rate.value) == (3, pytest.approx(1 / 3))


def test_rates_by_reviewer_within_each_group(report):
    rows = {(r.reviewer, r.group): r for r in report.human_review.reviewers_by_group}
    assert set(rows) == {("ann", "F"), ("ann", "M"), ("bob", "F"), ("bob", "M")}
    assert (rows["ann", "F"].approval_rate.value, rows["ann", "F"].override_rate.value) == (0.5, 0.5)
    assert (rows["ann", "M"].approval_rate.value, rows["ann", "M"].override_rate.value) == (1.0, 0.5)
    assert (
        rows["bob", "F"].n,
        rows["bob", "F"].approval_rate.value,
        rows["bob", "F"].override_rate.value,
    ) == (1, 0.0, 1.0)
    assert (
        rows["bob", "M"].n,
        rows["bob", "M"].approval_rate.value,
        rows["bob", "M"].override_rate.value,
    ) == (2, 1.0, 0.0)
    assert rows["bob", "F"].small and all(r.attribute == "sex" for r in rows.values())


def test_the_human_stage_compares_groups_like_any_stage(report):
    sex = report.stage("human").attribute("sex")
    assert (sex.group("F").n, sex.group("F").selection_rate.value) == (3, pytest.approx(1 / 3))
    assert (sex.group("M").n, sex.group("M").selection_rate.value) == (3, 1.0)


def test_without_a_human_stage_reviewer_rates_are_absent_with_a_note():
    decisions = pd.DataFrame({"final": ["approve", "decline"] * 20, "reviewer": ["ann", "bob"] * 20})
    groups = pd.DataFrame({"sex": ["F", "M", "M", "F"] * 10})
    report = fairness_report(decisions, groups, stages={"final": "final"}, reviewer="reviewer", n_bootstrap=0)
    assert all(r.approval_rate is None and r.override_rate is None for r in report.human_review.reviewers)
    assert any("no stage named 'human'" in note for note in report.notes)
