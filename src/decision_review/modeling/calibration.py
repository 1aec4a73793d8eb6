"""Platt scaling of the booster's margin: P(bad) = sigmoid(a * margin + b).

Why Platt and not isotonic: policy thresholds are read as probabilities, so the score must be
calibrated; Platt is monotone (it never reorders cases, AUC is unchanged), stores as two numbers
in JSON, and is affine in log-odds, so SHAP contributions multiplied by `a` are contributions to
the calibrated log-odds with additivity intact. Isotonic regression would break that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tiny ridge on (a, b): keeps Newton's method defined when the calibration split is separable.
_RIDGE = 1e-6


@dataclass(frozen=True)
class PlattCalibrator:
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray, max_iter: int = 100) -> PlattCalibrator:
        """Maximum likelihood (a, b) by Newton's method: deterministic, no solver settings to record.

        Uses Platt's smoothed targets, which keep a perfectly separated calibration split from
        pushing `a` to infinity.
        """
        m = np.asarray(margin, dtype=float)
        y = np.asarray(y, dtype=float)
        n_pos, n_neg = y.sum(), len(y) - y.sum()
        t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        design = np.column_stack([m, np.ones_like(m)])
        w = np.array([1.0, 0.0])
        for _ in range(max_iter):
            p = _sigmoid(design @ w)
            grad = design.T @ (p - t) + _RIDGE * w
            hess = (design * (p * (1 - p))[:, None]).T @ design + _RIDGE * np.eye(2)
            step = np.linalg.solve(hess, grad)
            w = w - step
            if np.max(np.abs(step)) < 1e-12:
                break
        return cls(a=float(w[0]), b=float(w[1]))

    def log_odds(self, margin: np.ndarray) -> np.ndarray:
        return self.a * margin + self.b

    def proba(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self.log_odds(margin))

    def to_dict(self) -> dict:
        return {
            "method": "platt",
            "formula": "p = 1 / (1 + exp(-(a * margin + b)))",
            "a": self.a,
            "b": self.b,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PlattCalibrator:
        if data.get("method") != "platt":
            raise ValueError(f"unknown calibration method {data.get('method')!r}")
        return cls(a=float(data["a"]), b=float(data["b"]))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return np.exp(-np.logaddexp(0.0, -z))
