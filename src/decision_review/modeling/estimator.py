"""The credit risk classifier: one-hot preprocessing, an xgboost booster, Platt calibration.

Why a scikit-learn estimator around a raw booster: the estimator conventions (parameters in
``__init__``, ``fit`` returns self, learned state ends in ``_``) let it slot into sklearn tooling
(``clone``, ``cross_val_predict``), while the booster itself is driven through xgboost's own
``train``/``inplace_predict`` on a float32 matrix, the fastest path and the one whose saved
JSON runs no code when loaded. Raw fields go in (as the risk team knows them); the encoding lives
inside the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split

from decision_review.modeling.calibration import PlattCalibrator
from decision_review.modeling.contract import contract_from_frame
from decision_review.modeling.preprocess import OneHotLayout
from decision_review.schemas import InputContract

BOOSTER_FILE = "model.json"
PREPROCESS_FILE = "preprocess.json"
CALIBRATION_FILE = "calibration.json"
# Batches smaller than this are predicted on one thread (see `BatchBooster`).
SMALL_BATCH = 1_000


class BatchBooster:
    """A booster and a one-thread copy of it: small batches use the copy, large ones every thread.

    Why: xgboost wakes its OpenMP team on every call. For a few hundred cases that costs more than
    the trees themselves, and on a busy machine the waiting threads spin against other processes
    (measured here: one case ~20 ms with two threads, ~0.5 ms with one). Each row is computed by a
    single thread either way, so the predictions are identical. The copy is made once.
    """

    def __init__(self, booster: xgb.Booster) -> None:
        self.booster = booster
        self.single_thread = booster.copy()
        self.single_thread.set_param({"nthread": 1})

    def for_rows(self, rows: int) -> xgb.Booster:
        return self.single_thread if rows < SMALL_BATCH else self.booster

    def dmatrix(self, matrix: np.ndarray) -> xgb.DMatrix:
        """A DMatrix built with as many threads as the prediction on it will use."""
        return xgb.DMatrix(matrix, nthread=1 if len(matrix) < SMALL_BATCH else -1)


class CreditRiskClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees on raw case fields with calibrated P(bad).

    `calibration_fraction` of the training rows (stratified) is held out from the trees and used
    only to fit the Platt calibration. Training is deterministic for a given `random_state` and
    `n_jobs` (hist trees, fixed seed and thread count).

    >>> model = CreditRiskClassifier(random_state=0).fit(frame, y, contract=contract)  # doctest: +SKIP
    >>> model.predict_proba(frame)[:, 1]  # calibrated P(bad)  # doctest: +SKIP
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        calibration_fraction: float = 0.25,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self) -> None:
        checks = {
            "n_estimators": self.n_estimators >= 1,
            "max_depth": 1 <= self.max_depth <= 16,
            "learning_rate": 0 < self.learning_rate <= 1,
            "subsample": 0 < self.subsample <= 1,
            "colsample_bytree": 0 < self.colsample_bytree <= 1,
            "min_child_weight": self.min_child_weight >= 0,
            "reg_lambda": self.reg_lambda >= 0,
            "calibration_fraction": 0 < self.calibration_fraction < 1,
            "n_jobs": self.n_jobs >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid parameter(s): {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}")

    def booster_params(self) -> dict:
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "seed": self.random_state,
            "nthread": self.n_jobs,
        }

    def fit(self, X: pd.DataFrame, y, contract: InputContract | None = None) -> CreditRiskClassifier:
        """Fit trees on raw fields `X` and outcomes `y` (1 = bad).

        `contract` says which fields are model inputs and their categories; without one it is
        inferred from `X` (every column a model input).
        """
        self._validate_params()
        y = np.asarray(y, dtype=np.int8)
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("y must hold both outcomes, 0 (good) and 1 (bad)")
        self.contract_ = contract if contract is not None else contract_from_frame(X)
        self.layout_ = OneHotLayout.from_contract(self.contract_)
        matrix = self.layout_.transform(X)
        fit_idx, cal_idx = train_test_split(
            np.arange(len(y)), test_size=self.calibration_fraction, stratify=y, random_state=self.random_state
        )
        self.booster_ = xgb.train(
            self.booster_params(),
            xgb.DMatrix(matrix[fit_idx], label=y[fit_idx], nthread=self.n_jobs),
            num_boost_round=self.n_estimators,
        )
        self.calibrator_ = PlattCalibrator.fit(self._booster_margin(matrix[cal_idx]), y[cal_idx])
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(self.layout_.field_names, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.n_fit_rows_ = len(fit_idx)
        self.n_calibration_rows_ = len(cal_idx)
        return self

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The float32 model matrix (one-hot) for raw fields."""
        return self.layout_.transform(X)

    @property
    def boosters_(self) -> BatchBooster:
        """The booster with its one-thread copy for small batches (made on first use)."""
        pair = self.__dict__.get("_boosters")
        if pair is None or pair.booster is not self.booster_:
            pair = self._boosters = BatchBooster(self.booster_)
        return pair

    def _booster_margin(self, matrix: np.ndarray) -> np.ndarray:
        booster = self.boosters_.for_rows(len(matrix))
        return booster.inplace_predict(matrix, predict_type="margin", validate_features=False).astype(float)

    def proba_of_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Calibrated P(bad) for an encoded matrix (see `encode`), as a 1-d array."""
        return self.calibrator_.proba(self._booster_margin(matrix))

    def booster_margin(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated margin (the trees' log-odds)."""
        return self._booster_margin(self.encode(X))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of the bad outcome."""
        return self.calibrator_.log_odds(self.booster_margin(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns P(good), P(bad), calibrated."""
        p = self.calibrator_.proba(self.booster_margin(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def save(self, folder: Path) -> list[str]:
        """Write the booster (xgboost JSON), the layout and the calibration; return the file names."""
        folder = Path(folder)
        self.booster_.save_model(folder / BOOSTER_FILE)
        _write_json(folder / PREPROCESS_FILE, self.layout_.to_dict())
        _write_json(folder / CALIBRATION_FILE, self.calibrator_.to_dict())
        return [BOOSTER_FILE, PREPROCESS_FILE, CALIBRATION_FILE]

    @classmethod
    def load(cls, folder: Path, contract: InputContract, params: dict) -> CreditRiskClassifier:
        """Rebuild a fitted model from its files: JSON only, nothing in them is executed."""
        folder = Path(folder)
        model = cls(**params)
        booster = xgb.Booster()
        booster.load_model(folder / BOOSTER_FILE)
        booster.set_param({"nthread": model.n_jobs})
        model.booster_ = booster
        model.contract_ = contract
        model.layout_ = OneHotLayout.from_dict(json.loads((folder / PREPROCESS_FILE).read_text()))
        model.calibrator_ = PlattCalibrator.from_dict(json.loads((folder / CALIBRATION_FILE).read_text()))
        expected = OneHotLayout.from_contract(contract)
        if expected != model.layout_:
            raise ValueError("preprocess.json does not match the input contract")
        model.classes_ = np.array([0, 1])
        model.feature_names_in_ = np.array(model.layout_.field_names, dtype=object)
        model.n_features_in_ = len(model.feature_names_in_)
        return model


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
