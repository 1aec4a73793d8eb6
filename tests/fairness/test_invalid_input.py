"""Malformed input gets an InvalidInput whose message names the column or attribute at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decision_review.errors import InvalidInput
from decision_review.fairness import fairness_report


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    decisions = pd.DataFrame(
        {
            "final_outcome": ["approve", "decline", "review", None] * 10,
            "bad": [0, 1, np.nan, 0] * 10,
            "score": [0.1, 0.7, 0.5, 0.2] * 10,
            "overridden": [True, False, None, False] * 10,
        }
    )
    groups = pd.DataFrame({"sex": ["female", "male"] * 20, "age_band": ["<25", "25-49", "50+", "<25"] * 10})
    return decisions, groups


def _fails(frames, match: str, decisions=None, groups=None, **kwargs):
    d, g = frames
    kwargs.setdefault("stages", {"final": "final_outcome"})
    with pytest.raises(InvalidInput, match=match):
        fairness_report(d if decisions is None else decisions, g if groups is None else groups, **kwargs)


def test_missing_stage_column(frames):
    _fails(
        frames, "stage 'human' outcome column 'human_outcome' is not in", stages={"human": "human_outcome"}
    )


def test_no_stage_given_and_no_default_outcome_column(frames):
    decisions = frames[0].rename(columns={"final_outcome": "decision"})
    _fails(frames, "no stage outcome columns given", decisions=decisions, stages=None)


def test_default_stages_are_found_by_their_conventional_names(frames):
    report = fairness_report(*frames, n_bootstrap=0)
    assert [s.stage for s in report.stages] == ["final"]


def test_missing_label_and_score_columns(frames):
    _fails(frames, "label column 'is_bad'", label="is_bad")
    _fails(frames, "score column 'p_bad'", label="bad", score="p_bad")


def test_missing_reviewer_and_override_columns(frames):
    _fails(frames, "reviewer column 'who'", reviewer="who")
    _fails(frames, "override column 'changed'", override="changed")


def test_unknown_protected_attribute_in_reference_groups(frames):
    _fails(
        frames,
        "reference_groups names attribute 'race'.*attributes: sex, age_band",
        reference_groups={"race": "x"},
    )


def test_reference_group_that_is_not_a_group_of_the_attribute(frames):
    _fails(
        frames, "reference group 'other' is not a group of attribute 'sex'", reference_groups={"sex": "other"}
    )


def test_reference_group_with_no_cases(frames):
    _fails(
        frames,
        "reference group 'nonbinary' of attribute 'sex' has no cases",
        reference_groups={"sex": "nonbinary"},
        declared_groups={"sex": ["female", "male", "nonbinary"]},
    )


def test_lengths_and_indexes_must_line_up(frames):
    groups = frames[1]
    _fails(frames, "decisions has 40 rows but groups has 39", groups=groups.iloc[:39])
    _fails(frames, "different indexes", groups=groups.set_axis(range(100, 140)))


def test_outcome_values_outside_the_allowed_set(frames):
    decisions = frames[0].assign(final_outcome=["approve", "maybe", "error", None] * 10)
    _fails(frames, r"outcome column 'final_outcome' has value\(s\) \['error', 'maybe'\]", decisions=decisions)
    _fails(frames, "'error' cases were not decided, so set them empty", decisions=decisions)


def test_label_score_and_override_values_are_checked(frames):
    d = frames[0]
    _fails(
        frames,
        "label column 'bad'.*1 \\(bad\\), 0 \\(good\\)",
        decisions=d.assign(bad=[0, 2, 1, 0] * 10),
        label="bad",
    )
    _fails(
        frames, "label column 'bad'", decisions=d.assign(bad=["good", "bad", None, "bad"] * 10), label="bad"
    )
    _fails(
        frames,
        "score column 'score' has 10 value",
        decisions=d.assign(score=[0.1, 1.5, 0.2, 0.3] * 10),
        label="bad",
        score="score",
    )
    _fails(
        frames,
        "score column 'score' must be numeric",
        decisions=d.assign(score="high"),
        label="bad",
        score="score",
    )
    _fails(
        frames,
        "override column 'overridden'",
        decisions=d.assign(overridden="sometimes"),
        override="overridden",
    )


def test_declared_groups_for_an_unknown_attribute(frames):
    _fails(frames, "declared_groups names attribute", declared_groups={"race": ["a"]})


def test_settings_out_of_range(frames):
    _fails(frames, "confidence", confidence=1.5)
    _fails(frames, "air_threshold", air_threshold=0)
    _fails(frames, "n_bootstrap", n_bootstrap=-1)
    _fails(frames, "min_group_size", min_group_size=0)


def test_groups_frame_without_columns(frames):
    _fails(frames, "no protected attribute columns", groups=pd.DataFrame(index=frames[0].index))


def test_accepted_variants_of_valid_input(frames):
    decisions, groups = frames
    variants = decisions.assign(
        bad=decisions["bad"].astype("Int64"),
        overridden=decisions["overridden"].astype("boolean"),
        final_outcome=decisions["final_outcome"].astype("category"),
    )
    report = fairness_report(
        variants, groups, label="bad", score="score", override="overridden", n_bootstrap=0
    )
    baseline = fairness_report(
        decisions, groups, label="bad", score="score", override="overridden", n_bootstrap=0
    )
    assert report == baseline


def test_an_empty_decisions_frame(frames):
    _fails(frames, "no cases", decisions=frames[0].iloc[:0], groups=frames[1].iloc[:0])
