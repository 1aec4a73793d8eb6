"""Fairness of decisions by protected group: selection rates, adverse impact, parity and odds gaps.

A pure core: frames in, a typed `FairnessReport` out; no database, no files. See docs/fairness.md.
"""

from decision_review.fairness.metrics import fairlearn_inputs
from decision_review.fairness.render import (
    render_text,
    report_renderables,
    selection_rate_figure,
    selection_rate_svg,
)
from decision_review.fairness.report import fairness_report, protected_attribute_settings
from decision_review.fairness.schemas import (
    AttributeReport,
    Calibration,
    Estimate,
    FairnessReport,
    GroupMetrics,
    HumanReviewReport,
    OverrideAttribute,
    OverrideGroup,
    ReviewerRow,
    Screen,
    StageReport,
)

__all__ = [
    "AttributeReport",
    "Calibration",
    "Estimate",
    "FairnessReport",
    "GroupMetrics",
    "HumanReviewReport",
    "OverrideAttribute",
    "OverrideGroup",
    "ReviewerRow",
    "Screen",
    "StageReport",
    "fairlearn_inputs",
    "fairness_report",
    "protected_attribute_settings",
    "render_text",
    "report_renderables",
    "selection_rate_figure",
    "selection_rate_svg",
]
