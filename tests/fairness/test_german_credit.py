"""On German credit the report names approval rates, AIR and the screen for each protected attribute.

The decision is a stand-in (approve exactly the good payers): the real model is built elsewhere.
Expected figures are counted straight from the CSV with pandas.
"""

from __future__ import annotations

import pandas as pd
import pytest

from decision_review.fairness import Screen, fairness_report, protected_attribute_settings, render_text


@pytest.fixture(scope="module")
def report(german_decisions, german_groups, german_attributes):
    return fairness_report(
        german_decisions,
        german_groups,
        stages={"final": "final_outcome"},
        label="bad",
        n_bootstrap=200,
        **protected_attribute_settings(german_attributes),
    )


def _approval_rates(german_decisions: pd.DataFrame, german_groups: pd.DataFrame, attribute: str) -> pd.Series:
    return (german_decisions["final_outcome"] == "approve").groupby(german_groups[attribute]).mean()


@pytest.mark.parametrize(
    ("attribute", "reference", "groups", "screen"),
    [
        ("sex", "male", ["male", "female"], Screen.PASS),
        ("age_band", "35-49", ["<25", "25-34", "35-49", "50+"], Screen.FAIL),
        ("foreign_worker", "no", ["no", "yes"], Screen.FAIL),
    ],
)
def test_approval_rates_air_and_screen_per_attribute(
    report, german_decisions, german_groups, attribute, reference, groups, screen
):
    section = report.stage("final").attribute(attribute)
    expected = _approval_rates(german_decisions, german_groups, attribute)
    assert section.reference_group == reference and section.reference_basis == "designated"
    assert [g.group for g in section.groups] == groups, "declared order (e.g. youngest band first)"
    for g in section.groups:
        assert g.n == (german_groups[attribute] == g.group).sum()
        assert g.selection_rate.value == pytest.approx(expected[g.group])
        assert g.selection_rate.low < g.selection_rate.value < g.selection_rate.high
        assert g.air.value == pytest.approx(expected[g.group] / expected[reference])
        if not g.reference:
            assert g.passes_four_fifths is bool(expected[g.group] / expected[reference] >= 0.8)
    assert section.screen is screen


def test_known_german_credit_figures(report):
    stage = report.stage("final")
    assert stage.attribute("age_band").failing_groups == ["<25"]
    assert stage.attribute("age_band").group("<25").air.value == pytest.approx((88 / 149) / (253 / 327))
    assert stage.attribute("foreign_worker").group("yes").air.value == pytest.approx((667 / 963) / (33 / 37))
    # A perfect stand-in decision approves every good and no bad applicant.
    assert all(g.tpr.value == 1.0 and g.fpr.value == 0.0 for g in stage.attribute("sex").groups)


def test_disclosures_on_german_credit(report):
    # "female : single" is declared by the mapping but absent from the data; foreign workers
    # crossed with sex and age give small groups; both are listed, not dropped.
    assert report.stage("final").attribute("sex").group("female").n == 310
    small = report.stage("final").attribute("age_band x foreign_worker")
    assert {g.group for g in small.groups if g.small} == {"<25 x no", "25-34 x no", "35-49 x no", "50+ x no"}
    assert small.screen is Screen.INSUFFICIENT, "its designated reference (35-49 x no) is small"
    assert any("35-49 x no" in note and "small" in note for note in report.notes)


def test_the_text_report_names_rates_air_and_verdicts(report):
    text = render_text(report, intersections=False)
    for expected in (
        "final / sex: screen pass",
        "final / age_band: screen fail",
        "final / foreign_worker: screen fail",
        "59.1%",
        "0.763",
        "FAIL",
        "reference 35-49 (designated)",
    ):
        assert expected in text
