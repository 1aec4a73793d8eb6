"""Turn arrays of point estimates and resamples into report `Estimate`s; one seeded stream per unit.

Why shared: the stage sections and the human review section read figures the same way, so an
undefined figure is None (never NaN) and an interval means the same thing everywhere.
"""

from __future__ import annotations

import zlib

import numpy as np

from decision_review.fairness.bootstrap import interval
from decision_review.fairness.schemas import Estimate


def stream(seed: int, unit: str) -> np.random.Generator:
    """One stream per stage, keyed by its name: adding a stage leaves the others' intervals alone."""
    return np.random.default_rng([seed, zlib.crc32(unit.encode())])


def estimate(value: float, low: float | None = None, high: float | None = None) -> Estimate:
    def clean(x: float | None) -> float | None:
        return None if x is None or np.isnan(x) else float(x)

    return Estimate(value=clean(value), low=clean(low), high=clean(high))


class Figures:
    """Point estimates and interval bounds of the same figures, read as Estimates."""

    def __init__(self, observed: dict[str, np.ndarray], resampled: dict[str, np.ndarray], confidence: float):
        self.point = {k: v[0] for k, v in observed.items()}
        # One interval call for every figure: flatten each to (B, -1) side by side, then split back.
        names = list(resampled)
        flat = [resampled[k].reshape(len(resampled[k]), int(np.prod(resampled[k].shape[1:]))) for k in names]
        low, high = interval(np.concatenate(flat, axis=1), confidence)
        self.low: dict[str, np.ndarray] = {}
        self.high: dict[str, np.ndarray] = {}
        start = 0
        for k, f in zip(names, flat, strict=True):
            shape = resampled[k].shape[1:]
            self.low[k] = low[start : start + f.shape[1]].reshape(shape)
            self.high[k] = high[start : start + f.shape[1]].reshape(shape)
            start += f.shape[1]

    def get(self, name: str, i: int | None = None) -> Estimate:
        if i is None:
            return estimate(self.point[name], self.low[name], self.high[name])
        return estimate(self.point[name][i], self.low[name][i], self.high[name][i])
