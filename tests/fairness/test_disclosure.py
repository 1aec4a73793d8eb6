"""Small, empty and unknown groups are kept and disclosed, never silently dropped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from decision_review.fairness import FairnessReport, Screen, fairness_report


def _frame(spec: dict[str, tuple[int, int]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """spec: group -> (approved, declined)."""
    groups, outcomes = [], []
    for group, (approved, declined) in spec.items():
        groups += [group] * (approved + declined)
        outcomes += ["approve"] * approved + ["decline"] * declined
    return pd.DataFrame({"final": outcomes}), pd.DataFrame({"g": groups})


def test_a_small_group_is_kept_flagged_and_left_out_of_the_verdict():
    decisions, groups = _frame({"a": (80, 20), "b": (75, 25), "tiny": (1, 9)})
    attribute = (
        fairness_report(decisions, groups, stages={"final": "final"}, n_bootstrap=50)
        .stage("final")
        .attribute("g")
    )
    tiny = attribute.group("tiny")
    assert tiny.n == 10 and tiny.small and tiny.passes_four_fifths is None
    assert tiny.air.value == pytest.approx(0.1 / 0.8), "its AIR is shown"
    assert tiny.selection_rate.low is not None, "and it has an interval"
    assert any("small group" in note for note in tiny.notes)
    assert attribute.screen is Screen.PASS
    assert any("tiny" in note and "small" in note for note in attribute.notes)


def test_the_unknown_group_is_reported_counted_and_not_chosen_as_reference():
    decisions, groups = _frame({"a": (60, 40), "b": (70, 30), "unknown": (50, 0)})
    report = fairness_report(decisions, groups, stages={"final": "final"}, n_bootstrap=0)
    attribute = report.stage("final").attribute("g")
    assert attribute.group("unknown").n == 50
    assert attribute.reference_group == "b", "the highest-rate known group, not 'unknown'"
    assert any("50 of 250" in note and "unknown" in note for note in report.notes)


def test_the_unknown_group_shows_its_air_but_does_not_decide_the_verdict():
    decisions, groups = _frame({"a": (60, 40), "b": (70, 30), "unknown": (10, 40)})
    attribute = (
        fairness_report(decisions, groups, stages={"final": "final"}, n_bootstrap=0)
        .stage("final")
        .attribute("g")
    )
    unknown = attribute.group("unknown")
    assert unknown.air.value == pytest.approx(0.2 / 0.7) and unknown.passes_four_fifths is False
    assert attribute.screen is Screen.PASS and attribute.failing_groups == []
    assert any("unknown" in note and "not screened" in note for note in attribute.notes)


def test_missing_group_values_become_unknown_and_are_disclosed():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    groups.loc[:4, "g"] = None
    report = fairness_report(decisions, groups, stages={"final": "final"}, n_bootstrap=0, min_group_size=1)
    assert report.stage("final").attribute("g").group("unknown").n == 5
    assert any("5 case(s) have no value" in note for note in report.notes)


def test_declared_groups_without_cases_are_listed_with_n_zero_in_attributes_and_intersections():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    groups["h"] = np.tile(["x", "y"], 50)
    groups["g"] = pd.Categorical(groups["g"], categories=["a", "b", "c"])
    report = fairness_report(
        decisions, groups, stages={"final": "final"}, n_bootstrap=10, declared_groups={"h": ["x", "y", "z"]}
    )
    stage = report.stage("final")
    for attribute, empty in (("g", "c"), ("h", "z"), ("g x h", "c x z")):
        group = stage.attribute(attribute).group(empty)
        assert group.n == 0 and group.selection_rate.value is None and group.passes_four_fifths is None
        assert "no cases in this stage" in group.notes
    assert len(stage.attribute("g x h").groups) == 9
    assert any("declared group 'c' has no cases" in note for note in report.notes)
    assert any("g x h" in note and "no cases" in note for note in report.notes)


def test_an_attribute_with_one_group_is_disclosed_and_not_screened():
    decisions, groups = _frame({"only": (40, 10)})
    report = fairness_report(decisions, groups, stages={"final": "final"}, n_bootstrap=0)
    assert report.stage("final").attribute("g").screen is Screen.INSUFFICIENT
    assert any("fewer than two known groups" in note for note in report.notes)


def test_a_designated_reference_without_cases_in_a_stage_gives_insufficient_data_with_a_note():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    decisions["human"] = np.where(groups["g"] == "a", None, decisions["final"])
    report = fairness_report(
        decisions, groups, stages={"human": "human"}, reference_groups={"g": "a"}, n_bootstrap=0
    )
    attribute = report.stage("human").attribute("g")
    assert attribute.reference_group == "a" and attribute.screen is Screen.INSUFFICIENT
    assert any("no cases in this stage" in note for note in attribute.notes)


def test_a_stage_that_decided_nothing_is_disclosed():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    decisions["human"] = None
    report = fairness_report(decisions, groups, stages={"human": "human"}, n_bootstrap=5)
    assert report.stage("human").n == 0
    assert report.stage("human").attribute("g").screen is Screen.INSUFFICIENT
    assert any("decided no case" in note for note in report.notes)


def test_without_labels_true_false_positive_rates_and_equalised_odds_are_absent_with_a_note():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    attribute = (
        fairness_report(decisions, groups, stages={"f": "final"}, n_bootstrap=0).stage("f").attribute("g")
    )
    assert attribute.equalized_odds_difference is None
    assert all(g.tpr is None and g.fpr is None and g.calibration is None for g in attribute.groups)
    assert any("no label column" in note for note in attribute.notes)


def test_a_group_with_only_bad_outcomes_has_no_tpr_and_is_left_out_of_equalised_odds():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    decisions["bad"] = np.where(groups["g"] == "a", 1.0, np.tile([0.0, 1.0], 50))
    attribute = (
        fairness_report(decisions, groups, stages={"f": "final"}, label="bad", n_bootstrap=0)
        .stage("f")
        .attribute("g")
    )
    a = attribute.group("a")
    assert a.n_good == 0 and a.tpr.value is None and a.fpr.value == 0.8
    assert any("TPR undefined" in note for note in a.notes)
    assert attribute.equalized_odds_difference.value == 0.0, "only group b has both outcomes"
    assert any(
        "left out of the equalised odds difference" in note and "a" in note for note in attribute.notes
    )


def test_the_report_is_valid_json_without_nan_and_round_trips(random_decisions):
    decisions, groups = random_decisions
    decisions = decisions.copy()
    decisions.loc[groups["sex"] == "female", "human_outcome"] = None
    report = fairness_report(
        decisions,
        groups,
        stages={"human": "human_outcome", "final": "final_outcome"},
        label="bad",
        score="score",
        reviewer="reviewer",
        override="overridden",
        n_bootstrap=20,
    )
    text = report.model_dump_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert FairnessReport.model_validate_json(text) == report


def test_a_missing_label_column_is_disclosed_once_at_the_top():
    decisions, groups = _frame({"a": (40, 10), "b": (40, 10)})
    groups["h"] = np.tile(["x", "y"], 50)
    report = fairness_report(decisions, groups, stages={"f": "final", "g": "final"}, n_bootstrap=0)
    assert sum("no label column" in note for note in report.notes) == 1
