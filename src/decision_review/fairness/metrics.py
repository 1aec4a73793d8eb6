"""Per-group counts and the fairness figures built from them, for observed data and resamples alike.

Why our own arithmetic rather than calling fairlearn here: the figures are fairlearn's
definitions (selection rate, true/false positive rate, demographic parity difference,
equalised odds difference), and the tests check that they equal fairlearn's on the same
inputs. But `MetricFrame` evaluates metrics group by group in Python (about 10 s per call on a
million cases here, and 0.05-0.2 s even on pre-aggregated counts), while a report needs those
figures for every stage, attribute, intersection and bootstrap resample. Working on group
counts computes all of them at once, and the same function serves the observed data (one row
of counts) and the resamples (many rows), so a point estimate and its interval can never drift
apart. One deliberate difference: fairlearn reports a true positive rate of 0 for a group with
no positive cases; here it is undefined (None, with a note) and that group is left out of the
equalised odds difference instead of counting as a rate of zero.

Conventions (see docs/fairness.md): selection = approval. For TPR/FPR the positive prediction
is "approve" and the positive class is "good" (label 0), so TPR = approval rate among good
applicants, FPR = approval rate among bad applicants.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse

from decision_review.fairness.inputs import APPROVE, BAD, DECLINE, GOOD, NOT_APPLIED, REVIEW, UNLABELLED

# Cell layout of a stage: fine group combination x outcome (3, decided cases only) x label (3)
# x has-score (2); every case the stage did not decide goes to one sink cell.
STAGE_CELL_WIDTH = 3 * 3 * 2


def stage_key(
    fine: np.ndarray, n_fine: int, outcome: np.ndarray, label: np.ndarray | None, scored: np.ndarray | None
) -> np.ndarray:
    """Cell key per case for one stage (see STAGE_CELL_WIDTH)."""
    label_code = label if label is not None else np.full(len(fine), UNLABELLED, dtype=np.int64)
    scored_code = scored.astype(np.int64) if scored is not None else np.zeros(len(fine), dtype=np.int64)
    key = fine * STAGE_CELL_WIDTH + np.minimum(outcome, REVIEW) * 6 + label_code * 2 + scored_code
    return np.where(outcome == NOT_APPLIED, n_fine * STAGE_CELL_WIDTH, key)


def stage_indicators(keys: np.ndarray, n_fine: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """For each cell: its fine group (-1 for the sink) and which counts it adds to."""
    sink = keys == n_fine * STAGE_CELL_WIDTH
    fine, rest = np.divmod(keys, STAGE_CELL_WIDTH)
    outcome, rest = np.divmod(rest, 6)
    label, scored = np.divmod(rest, 2)
    decided = ~sink
    known = decided & (label != UNLABELLED)
    calibrated = known & (scored == 1)
    indicators = {
        "n": decided,
        "approve": decided & (outcome == APPROVE),
        "decline": decided & (outcome == DECLINE),
        "review": decided & (outcome == REVIEW),
        "good": decided & (label == GOOD),
        "approve_good": decided & (label == GOOD) & (outcome == APPROVE),
        "bad": decided & (label == BAD),
        "approve_bad": decided & (label == BAD) & (outcome == APPROVE),
        "cal_n": calibrated,
        "cal_bad": calibrated & (label == BAD),
    }
    return np.where(sink, -1, fine), {k: v.astype(float) for k, v in indicators.items()}


def group_totals(
    counts: np.ndarray, cell_group: np.ndarray, n_groups: int, indicators: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Sum cell counts into groups for every indicator at once: one sparse product.

    `counts` is (B, K) (B = 1 for the observed data); each result is (B, n_groups).
    """
    names = list(indicators)
    k = len(cell_group)
    valid = cell_group >= 0
    rows, cols, vals = [], [], []
    for i, name in enumerate(names):
        w = indicators[name]
        keep = valid & (w != 0)
        rows.append(np.flatnonzero(keep))
        cols.append(cell_group[keep] + i * n_groups)
        vals.append(w[keep])
    matrix = sparse.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(k, len(names) * n_groups)
    )
    summed = np.asarray((matrix.T @ counts.T).T, dtype=float)
    return {name: summed[:, i * n_groups : (i + 1) * n_groups] for i, name in enumerate(names)}


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN (undefined) where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def adverse_impact_ratio(approve: np.ndarray, n: np.ndarray, reference: int) -> np.ndarray:
    """Selection rate of each group / selection rate of the reference group.

    Computed as (approved_g * n_ref) / (n_g * approved_ref), one division of exact integer
    counts, so a ratio of exactly 4/5 is exactly 0.8 and the screen has no rounding edge.
    """
    numerator = approve * n[..., reference : reference + 1]
    denominator = n * approve[..., reference : reference + 1]
    return ratio(numerator, denominator)


def spread(rates: np.ndarray) -> np.ndarray:
    """Largest minus smallest defined rate over groups (last axis); NaN when none is defined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(rates, axis=-1) - np.nanmin(rates, axis=-1)


def demographic_parity_difference(selection: np.ndarray) -> np.ndarray:
    """fairlearn's between-groups difference of selection rates, over groups with cases."""
    return spread(selection)


def equalized_odds_difference(tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """fairlearn's worst case of the TPR and FPR spreads, over groups where both are defined."""
    both = ~np.isnan(tpr) & ~np.isnan(fpr)
    tpr_spread = spread(np.where(both, tpr, np.nan))
    fpr_spread = spread(np.where(both, fpr, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.fmax(tpr_spread, fpr_spread)


def fairlearn_inputs(
    outcome: pd.Series, label: pd.Series | None = None
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """`(y_true, y_pred, mask)` in this report's convention, to rerun a figure with fairlearn itself.

    y_pred = 1 for "approve"; y_true = 1 for a good applicant (label 0); `mask` keeps cases the
    stage decided (and, with a label, whose outcome is known). Example::

        y_true, y_pred, mask = fairlearn_inputs(decisions["final_outcome"], decisions["bad"])
        MetricFrame(metrics=true_positive_rate, y_true=y_true[mask], y_pred=y_pred[mask],
                    sensitive_features=groups["sex"][mask])
    """
    mask = outcome.notna()
    y_pred = (outcome.astype(object) == "approve").astype(int)
    if label is None:
        return y_pred.copy(), y_pred, mask
    mask &= label.notna()
    y_true = (label.astype(float) == 0).astype(int)
    return y_true, y_pred, mask
