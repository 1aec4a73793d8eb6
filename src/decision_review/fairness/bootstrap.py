"""Bootstrap confidence intervals by resampling cell counts instead of rows.

Why this works and why it is fast: every figure in a fairness report is a ratio of counts of
cases (approved cases of a group, good applicants of a group, ...) or of sums of scores. Cut the
cases into cells, one per distinct combination of everything the figures look at (protected
groups, outcome, known label, has a score). Drawing n cases with replacement from the whole
frame changes only how many cases land in each cell, and those numbers follow a multinomial
distribution with the observed cell shares. So drawing the cell counts directly from that
multinomial gives *exactly* the same distribution of every count-based figure as resampling
rows, at a cost of (cells x resamples) instead of (cases x resamples): a million cases and a few
hundred cells take milliseconds.

Sums of scores (for calibration) are the one thing a cell count does not fix: given that m
cases of a cell were drawn, their score sum is approximated as normal with mean m * mean and
variance m * variance of that cell's scores (the central limit theorem applied to the draw).
The label part of calibration, which dominates its uncertainty, stays exact.

Everything is seeded: the same seed and inputs give the same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A key range up to this multiple of the number of cases is counted with bincount; larger
# (sparse) ranges fall back to sorting with np.unique.
_DENSE_RANGE_FACTOR = 4


@dataclass(frozen=True)
class Cells:
    """Distinct cell keys with their case counts and score moments."""

    keys: np.ndarray  # (K,) int64, sorted
    counts: np.ndarray  # (K,) int64
    score_mean: np.ndarray  # (K,) mean score of the cell's cases (0 where a cell has no scores)
    score_var: np.ndarray  # (K,) population variance of those scores


def tabulate(key: np.ndarray, score: np.ndarray | None = None) -> Cells:
    """Count cases per distinct key; `score` rows that are NaN must sit in cells of their own."""
    n = len(key)
    top = int(key.max()) + 1 if n else 0
    if top <= _DENSE_RANGE_FACTOR * n + 1024:
        full = np.bincount(key, minlength=top)
        keys = np.flatnonzero(full)
        counts = full[keys]
        lookup = np.zeros(top, dtype=np.int64)
        lookup[keys] = np.arange(len(keys))
        inverse = lookup[key]
    else:
        keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    k = len(keys)
    if score is None:
        zeros = np.zeros(k)
        return Cells(keys.astype(np.int64), counts.astype(np.int64), zeros, zeros)
    filled = np.nan_to_num(score, nan=0.0)
    total = np.bincount(inverse, weights=filled, minlength=k)
    squares = np.bincount(inverse, weights=filled * filled, minlength=k)
    mean = total / counts
    var = np.clip(squares / counts - mean * mean, 0.0, None)
    return Cells(keys.astype(np.int64), counts.astype(np.int64), mean, var)


def resample_counts(counts: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, K) cell counts, each row one bootstrap resample of all n cases."""
    n = int(counts.sum())
    if n_resamples == 0 or n == 0:
        return np.zeros((n_resamples, len(counts)), dtype=np.int64)
    return rng.multinomial(n, counts / n, size=n_resamples)


def resample_score_sums(resampled: np.ndarray, cells: Cells, rng: np.random.Generator) -> np.ndarray:
    """Score sum per cell for each resample: exact mean part, normal approximation of the spread."""
    noise = rng.standard_normal(resampled.shape)
    return resampled * cells.score_mean + np.sqrt(resampled * cells.score_var) * noise


def interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring resamples where the figure is undefined (NaN).

    Same as `np.nanquantile(..., method="linear")`, vectorised over every figure at once (numpy's
    own version loops over columns in Python when NaNs are present). A figure undefined in every
    resample gets NaN bounds (reported as no interval).
    """
    alpha = (1.0 - confidence) / 2.0
    ordered = np.sort(samples, axis=0)  # NaN sorts last
    defined = (~np.isnan(samples)).sum(axis=0)
    bounds = []
    for q in (alpha, 1.0 - alpha):
        position = q * np.maximum(defined - 1, 0)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(defined - 1, 0))
        fraction = position - below
        low_value = np.take_along_axis(ordered, below[None, ...], axis=0)[0] if len(ordered) else position
        high_value = np.take_along_axis(ordered, above[None, ...], axis=0)[0] if len(ordered) else position
        value = low_value + (high_value - low_value) * fraction
        bounds.append(np.where(defined > 0, value, np.nan))
    return bounds[0], bounds[1]
