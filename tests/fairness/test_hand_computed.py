"""A ten-case frame worked out by hand: approval rates, AIR, the four-fifths verdict, TPR/FPR."""

from __future__ import annotations

import pandas as pd
import pytest

from decision_review.fairness import Screen, fairness_report

SEX = ["F"] * 5 + ["M"] * 5


def _report(outcomes: list[str | None], bad: list[int] | None = None, **kwargs):
    decisions = pd.DataFrame({"final": pd.Series(outcomes, dtype=object)})
    if bad is not None:
        decisions["bad"] = bad
    kwargs.setdefault("min_group_size", 1)
    kwargs.setdefault("n_bootstrap", 0)
    return fairness_report(
        decisions,
        pd.DataFrame({"sex": SEX}),
        stages={"final": "final"},
        label="bad" if bad else None,
        **kwargs,
    )


def test_air_and_four_fifths_failure_by_hand():
    # F approves 2 of 5 = 0.4; M approves 4 of 5 = 0.8; AIR(F) = 0.4 / 0.8 = 0.5 < 0.8 -> fail.
    # Labels (1 = bad): F good = cases 0, 2, 3 (approved 1) -> TPR 1/3; F bad = 1, 4 (approved 1) -> FPR 1/2.
    # M good = 5, 6, 8 (all approved) -> TPR 1; M bad = 7, 9 (approved 1) -> FPR 1/2.
    outcomes = ["approve", "approve", "decline", "decline", "decline"] + ["approve"] * 4 + ["decline"]
    bad = [0, 1, 0, 0, 1, 0, 0, 1, 0, 1]
    attribute = _report(outcomes, bad).stage("final").attribute("sex")
    female, male = attribute.group("F"), attribute.group("M")
    assert (female.n, female.selection_rate.value, male.selection_rate.value) == (5, 0.4, 0.8)
    assert attribute.reference_group == "M" and male.reference and male.air.value == 1.0
    assert female.air.value == pytest.approx(0.5)
    assert female.passes_four_fifths is False and male.passes_four_fifths is None
    assert attribute.screen is Screen.FAIL and attribute.failing_groups == ["F"]
    assert attribute.demographic_parity_difference.value == pytest.approx(0.4)
    assert (female.tpr.value, female.fpr.value) == (pytest.approx(1 / 3), 0.5)
    assert (male.tpr.value, male.fpr.value) == (1.0, 0.5)
    assert attribute.equalized_odds_difference.value == pytest.approx(2 / 3)


def test_exactly_four_fifths_passes():
    # F 4 of 5 = 0.8, M 5 of 5 = 1.0: AIR = 0.8 exactly, which meets the threshold.
    outcomes = ["approve"] * 4 + ["decline"] + ["approve"] * 5
    attribute = _report(outcomes).stage("final").attribute("sex")
    assert attribute.group("F").air.value == 0.8
    assert attribute.group("F").passes_four_fifths is True
    assert attribute.screen is Screen.PASS


def test_below_four_fifths_fails_and_the_threshold_is_a_setting():
    # F 3 of 4 decided (one not applied) = 0.75, M 5 of 5 = 1.0: AIR 0.75 < 0.8.
    outcomes = ["approve", "approve", "approve", "decline", None] + ["approve"] * 5
    attribute = _report(outcomes).stage("final").attribute("sex")
    assert attribute.group("F").n == 4
    assert attribute.group("F").air.value == 0.75
    assert attribute.screen is Screen.FAIL
    # A looser threshold passes the same figures.
    loose = _report(outcomes, air_threshold=0.7).stage("final").attribute("sex")
    assert loose.screen is Screen.PASS


def test_designated_reference_is_used_even_when_not_the_highest():
    outcomes = ["approve", "approve", "decline", "decline", "decline"] + ["approve"] * 4 + ["decline"]
    attribute = _report(outcomes, reference_groups={"sex": "F"}).stage("final").attribute("sex")
    assert attribute.reference_group == "F" and attribute.reference_basis == "designated"
    assert attribute.group("M").air.value == pytest.approx(2.0)
    assert attribute.screen is Screen.PASS


def test_referral_and_decline_rates_by_hand():
    outcomes = [
        "approve",
        "review",
        "review",
        "decline",
        None,
        "review",
        "approve",
        "approve",
        "approve",
        "decline",
    ]
    attribute = _report(outcomes).stage("final").attribute("sex")
    female = attribute.group("F")
    assert female.n == 4
    assert (female.selection_rate.value, female.referral_rate.value, female.decline_rate.value) == (
        0.25,
        0.5,
        0.25,
    )
    assert attribute.group("M").referral_rate.value == 0.2


def test_with_the_default_minimum_both_groups_are_small_and_the_screen_has_too_little_data():
    outcomes = ["approve", "approve", "decline", "decline", "decline"] + ["approve"] * 4 + ["decline"]
    attribute = _report(outcomes, min_group_size=30).stage("final").attribute("sex")
    assert all(g.small for g in attribute.groups)
    assert attribute.group("F").passes_four_fifths is None
    assert attribute.group("F").air.value == pytest.approx(0.5), "the AIR is still shown"
    assert attribute.screen is Screen.INSUFFICIENT
    assert any("reference" in note and "small" in note for note in attribute.notes)
