"""SHAP contributions per raw field, in calibrated log-odds, and the top reason codes.

Why this shape:
- Exact TreeSHAP. For the "all_applicants" reference this is the tree-path-dependent algorithm
  (what ``shap.TreeExplainer(model)`` computes; shap itself hands xgboost models to xgboost's C++
  ``pred_contribs``, and so do we, on the float32 matrix, without shap's per-call conversions).
  For "near_cutoff" it is interventional TreeSHAP from ``shap.TreeExplainer`` against a background
  of training applicants scored just below the approval cut-off.
- Contributions of a field's one-hot columns are summed into the field, then multiplied by the
  Platt slope `a`, so that for every case: sum(contributions) + base value = calibrated log-odds.
- Reasons are chosen for the bad direction only (positive contributions), largest first, from
  model inputs only: a protected source is never a model input, so it can never be a reason.
- Everything is arrays: a million cases cost a few vectorised calls; pydantic `ReasonCode`
  objects are built only when someone reads `Explanation.reasons`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from typing import Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field

from decision_review.errors import InvalidInput
from decision_review.modeling.calibration import PlattCalibrator
from decision_review.modeling.estimator import BatchBooster
from decision_review.modeling.preprocess import OneHotLayout
from decision_review.modeling.reasons import ReasonCodes
from decision_review.schemas import ReasonCode

ReferenceKind = Literal["all_applicants", "near_cutoff"]
REFERENCES: tuple[str, ...] = ("all_applicants", "near_cutoff")
# Background rows for "near_cutoff": enough for a stable mean, few enough that interventional
# TreeSHAP (cost grows with the background) stays at a few milliseconds a case.
NEAR_CUTOFF_BACKGROUND = 100
OUTPUT_SPACE = "calibrated log-odds of P(bad): Platt slope a times the booster's TreeSHAP values"


class ExplainerConfig(BaseModel):
    """How an explanation was computed; recorded in the model card and with every explanation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: int
    model_digest: str
    reference: ReferenceKind
    reference_description: str
    cutoff: float | None = Field(default=None, description="near_cutoff: the approval cut-off, a P(bad).")
    background_rows: int | None = Field(default=None, description="near_cutoff: size of the background set.")
    algorithm: str
    output_space: str = OUTPUT_SPACE
    aggregation: str = "one-hot columns summed into their raw field"
    shap_version: str = metadata.version("shap")
    xgboost_version: str = xgb.__version__


REFERENCE_DESCRIPTIONS = {
    "all_applicants": (
        "Compared with all applicants the model was trained on: the base value is the average training "
        "log-odds, and each field's contribution is how much it moves this case away from that average "
        "(tree-path-dependent TreeSHAP: the training data's distribution as recorded in the trees)."
    ),
    "near_cutoff": (
        "Compared with applicants just on the approval side of the cut-off: the base value is the average "
        "log-odds of training applicants whose P(bad) is just below the cut-off, and each contribution is "
        "how much the field moves this case away from them (interventional TreeSHAP against that background)."
    ),
}


@dataclass(frozen=True)
class Explanation:
    """Explanations for a batch of cases, as arrays; `reasons` builds records on demand.

    `contributions` has one column per model-input field (calibrated log-odds, positive = towards
    bad); `base_values` is per row (constant for a given reference). The `top_*` arrays have shape
    (rows, top_k); a slot with no reason holds None / NaN. `top_positions` holds each reason's field
    as its position among the model inputs (the number of inputs for an empty slot).
    """

    contributions: pd.DataFrame
    base_values: np.ndarray
    top_fields: np.ndarray
    top_codes: np.ndarray
    top_texts: np.ndarray
    top_contributions: np.ndarray
    top_positions: np.ndarray
    config: ExplainerConfig
    top_k: int = field(default=4)

    @property
    def base_value(self) -> float:
        return float(self.base_values[0]) if len(self.base_values) else float("nan")

    @property
    def log_odds(self) -> np.ndarray:
        """Calibrated log-odds rebuilt from the parts (equals the model's margin: additivity)."""
        return self.contributions.to_numpy().sum(axis=1) + self.base_values

    @cached_property
    def reasons(self) -> list[list[ReasonCode]]:
        """Per row, the reason codes for the bad direction, largest contribution first."""
        out: list[list[ReasonCode]] = []
        for fields, codes, texts, values in zip(
            self.top_fields, self.top_codes, self.top_texts, self.top_contributions, strict=True
        ):
            out.append(
                [
                    ReasonCode(field=f, code=c, text=t, contribution=float(v))
                    for f, c, t, v in zip(fields, codes, texts, values, strict=True)
                    if f is not None
                ]
            )
        return out

    def reason_frame(self) -> pd.DataFrame:
        """The reasons as plain columns: reason_1_field, _code, _text, _contribution, reason_2_field, ..."""
        columns: dict[str, np.ndarray] = {}
        for j in range(self.top_fields.shape[1]):
            columns[f"reason_{j + 1}_field"] = self.top_fields[:, j]
            columns[f"reason_{j + 1}_code"] = self.top_codes[:, j]
            columns[f"reason_{j + 1}_text"] = self.top_texts[:, j]
            columns[f"reason_{j + 1}_contribution"] = self.top_contributions[:, j]
        return pd.DataFrame(columns, index=self.contributions.index)


class TreeExplainer:
    """Explains one model: its booster, encoding, calibration, reason codes and reference sample."""

    def __init__(
        self,
        *,
        booster: xgb.Booster,
        layout: OneHotLayout,
        calibrator: PlattCalibrator,
        reasons: ReasonCodes,
        reference_sample: np.ndarray,
        reference_scores: np.ndarray,
        identity: tuple[str, int, str],
    ) -> None:
        self.booster = booster
        self.layout = layout
        self.calibrator = calibrator
        self.reasons = reasons
        self.reference_sample = reference_sample
        self.reference_scores = reference_scores
        self.identity = identity
        self.boosters = BatchBooster(booster)
        self._interventional: dict[float, tuple[object, int]] = {}
        self._configs: dict[tuple, ExplainerConfig] = {}
        fields = layout.field_names
        self._field_index = pd.Index(fields)  # column labels of every contributions frame
        self._field_names = np.array([*fields, None], dtype=object)
        self._codes = np.array([*(reasons.reasons[f].code for f in fields), None], dtype=object)
        self._texts = np.array([*(reasons.reasons[f].text for f in fields), None], dtype=object)

    def explain(
        self,
        frame: pd.DataFrame,
        *,
        top_k: int = 4,
        reference: str = "all_applicants",
        cutoff: float | None = None,
    ) -> Explanation:
        """Explain checked cases; see the module docstring for what each reference means."""
        return self.explain_matrix(
            self.layout.transform(frame), frame.index, top_k=top_k, reference=reference, cutoff=cutoff
        )

    def explain_matrix(
        self,
        matrix: np.ndarray,
        index: pd.Index,
        *,
        top_k: int = 4,
        reference: str = "all_applicants",
        cutoff: float | None = None,
    ) -> Explanation:
        """`explain` for rows already encoded (`OneHotLayout`), labelled with `index`."""
        if not 1 <= top_k <= len(self.layout.fields):
            raise InvalidInput(
                f"top_k must be between 1 and {len(self.layout.fields)} (the model's inputs), not {top_k}"
            )
        if reference == "all_applicants":
            column_values, base = self._path_dependent(matrix)
            config = self._config("all_applicants", algorithm="TreeSHAP, tree-path-dependent (exact)")
        elif reference == "near_cutoff":
            if cutoff is None or not 0.0 < cutoff < 1.0:
                raise InvalidInput(
                    "reference 'near_cutoff' needs the approval cut-off as a probability between 0 and 1, "
                    f"not {cutoff!r}"
                )
            column_values, base, rows = self._interventional_values(matrix, cutoff)
            config = self._config(
                "near_cutoff",
                algorithm="TreeSHAP, interventional (exact for the background)",
                cutoff=cutoff,
                background_rows=rows,
            )
        else:
            raise InvalidInput(
                f"unknown explanation reference {reference!r}; use one of {', '.join(REFERENCES)}"
            )
        if len(matrix):
            per_field = np.add.reduceat(column_values, self.layout.field_starts, axis=1)
        else:
            per_field = np.zeros((0, len(self.layout.fields)))
        per_field = per_field.astype(float) * self.calibrator.a
        base_values = np.full(len(matrix), self.calibrator.a * base + self.calibrator.b)
        top = self._top_reasons(per_field, top_k)
        return Explanation(
            contributions=pd.DataFrame(per_field, columns=self._field_index, index=index),
            base_values=base_values,
            config=config,
            top_k=top_k,
            **top,
        )

    def _path_dependent(self, matrix: np.ndarray) -> tuple[np.ndarray, float]:
        if not len(matrix):
            return np.zeros((0, matrix.shape[1])), float(self._path_base())
        phi = self.boosters.for_rows(len(matrix)).predict(
            self.boosters.dmatrix(matrix), pred_contribs=True, validate_features=False
        )
        return phi[:, :-1], float(phi[0, -1])

    def _path_base(self) -> float:
        one = np.zeros((1, self.layout.n_columns), dtype=np.float32)
        return float(
            self.boosters.single_thread.predict(
                self.boosters.dmatrix(one), pred_contribs=True, validate_features=False
            )[0, -1]
        )

    def near_cutoff_background(self, cutoff: float) -> np.ndarray:
        """Training applicants just on the approval side of `cutoff`: the highest-scored rows below it.

        If too few training applicants score below the cut-off, the rows closest to it on either
        side are used instead, so the background always has a usable size.
        """
        scores = self.reference_scores
        below = np.flatnonzero(scores < cutoff)
        n = min(NEAR_CUTOFF_BACKGROUND, len(scores))
        if len(below) >= n:
            chosen = below[np.argsort(-scores[below], kind="stable")[:n]]
        else:
            chosen = np.argsort(np.abs(scores - cutoff), kind="stable")[:n]
        return self.reference_sample[np.sort(chosen)]

    def _interventional_values(self, matrix: np.ndarray, cutoff: float) -> tuple[np.ndarray, float, int]:
        key = round(float(cutoff), 6)
        if key not in self._interventional:
            import shap  # imported here: slow to import, and only this reference needs it

            background = self.near_cutoff_background(key)
            explainer = shap.TreeExplainer(
                self.booster, data=background, feature_perturbation="interventional", model_output="raw"
            )
            self._interventional[key] = (explainer, len(background))
        explainer, rows = self._interventional[key]
        values = (
            explainer.shap_values(matrix, check_additivity=False)
            if len(matrix)
            else np.zeros((0, matrix.shape[1]))
        )
        return np.asarray(values), float(np.asarray(explainer.expected_value).reshape(-1)[0]), rows

    def _top_reasons(self, per_field: np.ndarray, top_k: int) -> dict[str, np.ndarray]:
        _n, n_fields = per_field.shape
        towards_bad = np.where(per_field > 0, per_field, -np.inf)
        order = np.argsort(-towards_bad, axis=1, kind="stable")[:, :top_k]
        values = np.take_along_axis(towards_bad, order, axis=1)
        has_reason = np.isfinite(values)
        idx = np.where(has_reason, order, n_fields)
        return {
            "top_fields": self._field_names[idx],
            "top_codes": self._codes[idx],
            "top_texts": self._texts[idx],
            "top_contributions": np.where(has_reason, values, np.nan),
            "top_positions": idx,
        }

    def _config(self, reference: ReferenceKind, **extra) -> ExplainerConfig:
        """The (immutable) configuration record, built once per reference and cut-off."""
        key = (reference, *sorted(extra.items()))
        config = self._configs.get(key)
        if config is None:
            name, version, digest = self.identity
            config = self._configs[key] = ExplainerConfig(
                model=name,
                version=version,
                model_digest=digest,
                reference=reference,
                reference_description=REFERENCE_DESCRIPTIONS[reference],
                **extra,
            )
        return config
