"""A registered model ready to use: validate, score and explain cases in whole batches.

Why one object for scoring and explaining: both must use the same encoding, the same booster and
the same calibration; the engine holds one `LoadedModel` per policy and hands it frames of any
length (one online case or a million in a backtest), never looping over cases in Python.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from decision_review.modeling.card import ModelCard
from decision_review.modeling.contract import CaseChecker, CheckedCases, CheckedColumns
from decision_review.modeling.estimator import CreditRiskClassifier
from decision_review.modeling.explain import Explanation, TreeExplainer
from decision_review.modeling.reasons import ReasonCodes
from decision_review.schemas import InputContract


class LoadedModel:
    """One model version from the registry (see `ModelRegistry.load`).

    >>> model = ModelRegistry(Path("models")).load("german_credit", 1)  # doctest: +SKIP
    >>> checked = model.check(cases)  # doctest: +SKIP
    >>> p_bad = model.predict_proba(checked.frame[checked.valid])  # doctest: +SKIP
    >>> model.explain(checked.frame[checked.valid & (p_bad > 0.3)]).reasons  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        name: str,
        version: int,
        path: Path,
        card: ModelCard,
        contract: InputContract,
        estimator: CreditRiskClassifier,
        reasons: ReasonCodes,
        reference_sample: pd.DataFrame,
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.card = card
        self.contract = contract
        self.estimator = estimator
        self.reasons = reasons
        self.reference_sample = reference_sample
        self.checker = CaseChecker(contract)
        self._explainer: TreeExplainer | None = None

    @property
    def digest(self) -> str:
        return self.card.digest

    def __repr__(self) -> str:
        return f"LoadedModel({self.name!r}, version={self.version}, digest={self.digest[:12]}...)"

    def check(self, frame: pd.DataFrame) -> CheckedCases:
        """Validate raw cases against this model's input contract (never raises for bad data)."""
        return self.checker.check(frame).to_checked_cases(self.contract)

    def check_columns(self, frame: pd.DataFrame, *, ids: bool = False) -> CheckedColumns:
        """`check` without building the pandas frame: what the engine scores and explains from."""
        return self.checker.check(frame, ids=ids)

    def encode(self, checked: CheckedColumns, rows: np.ndarray | None = None) -> np.ndarray:
        """The model matrix of checked columns (only `rows`, a mask or positions, when given)."""
        return self.estimator.layout_.encode(checked.numbers, checked.codes, rows)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(bad) for each row of checked cases, as a 1-d array."""
        return self.estimator.predict_proba(frame)[:, 1]

    def predict_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """`predict_proba` for rows already encoded (see `encode`)."""
        return self.estimator.proba_of_matrix(matrix)

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of the bad outcome (what explanations add up to)."""
        return self.estimator.decision_function(frame)

    def explain(
        self,
        frame: pd.DataFrame,
        top_k: int = 4,
        reference: str = "all_applicants",
        cutoff: float | None = None,
    ) -> Explanation:
        """SHAP contributions per field, base values and the top-k reasons for the bad direction.

        `reference` is "all_applicants" (the training population; exact and fast) or
        "near_cutoff" (applicants just on the approval side of `cutoff`, a P(bad)); see
        docs/models.md for when to use which. Explain only the rows that need it.
        """
        return self.explainer.explain(frame, top_k=top_k, reference=reference, cutoff=cutoff)

    @property
    def explainer(self) -> TreeExplainer:
        if self._explainer is None:
            sample = self.estimator.encode(self.reference_sample)
            self._explainer = TreeExplainer(
                booster=self.estimator.booster_,
                layout=self.estimator.layout_,
                calibrator=self.estimator.calibrator_,
                reasons=self.reasons,
                reference_sample=sample,
                reference_scores=self.predict_proba(self.reference_sample),
                identity=(self.name, self.version, self.digest),
            )
        return self._explainer
