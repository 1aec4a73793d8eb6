"""Held-out quality of a scorer, overall and per protected group, as plain records for the card.

Why these metrics: AUC and KS are what credit risk teams compare models by (ranking); Brier and
the expected calibration error (ECE) with a calibration table say whether 0.1 really means 1 in
10, which is what a policy threshold relies on. The same numbers per protected group show whether
the score ranks and is calibrated equally well for each group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

N_BINS = 10


class CalibrationBin(BaseModel):
    """Cases whose predicted P(bad) fell in [lower, upper): what was predicted, what happened."""

    model_config = ConfigDict(extra="forbid")

    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_bad_rate: float


class Metrics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: int
    bad_rate: float
    mean_predicted: float
    auc: float | None = None
    ks: float | None = None
    brier: float
    ece: float
    calibration: list[CalibrationBin]


def evaluate(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> Metrics:
    """Metrics of calibrated probabilities `p` against outcomes `y` (1 = bad).

    AUC and KS are None when only one outcome occurs (a small group can be all good).
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    table = calibration_table(y, p, n_bins)
    two_classes = len(np.unique(y)) == 2
    return Metrics(
        rows=len(y),
        bad_rate=float(y.mean()),
        mean_predicted=float(p.mean()),
        auc=float(roc_auc_score(y, p)) if two_classes else None,
        ks=ks_statistic(y, p) if two_classes else None,
        brier=float(brier_score_loss(y, p)),
        ece=expected_calibration_error(table, len(y)),
        calibration=table,
    )


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def calibration_table(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1]; empty bins are left out."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    return [
        CalibrationBin(
            lower=float(edges[i]),
            upper=float(edges[i + 1]),
            count=int(counts[i]),
            mean_predicted=float(sum_p[i] / counts[i]),
            observed_bad_rate=float(sum_y[i] / counts[i]),
        )
        for i in range(n_bins)
        if counts[i]
    ]


def expected_calibration_error(table: list[CalibrationBin], n: int) -> float:
    """Count-weighted mean |predicted - observed| over the calibration table's bins."""
    return float(sum(b.count * abs(b.mean_predicted - b.observed_bad_rate) for b in table) / n)


def evaluate_by_group(y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> dict[str, dict[str, Metrics]]:
    """`evaluate` within each group of each protected attribute (columns of `groups`)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    out: dict[str, dict[str, Metrics]] = {}
    for attribute in groups.columns:
        labels = groups[attribute].to_numpy(dtype=object)
        out[attribute] = {
            str(g): evaluate(y[labels == g], p[labels == g]) for g in sorted(set(labels), key=str)
        }
    return out
