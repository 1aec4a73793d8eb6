"""Models: input contracts, training, the registry with model cards, scoring and SHAP reason codes.

The names below are imported on first use, so `import decision_review.modeling` stays cheap for
callers that need only the contract check.

>>> from decision_review.modeling import ModelRegistry, check_cases  # doctest: +SKIP
>>> model = ModelRegistry("models").load("german_credit", 1)  # doctest: +SKIP
>>> checked = check_cases(cases, model.contract)  # doctest: +SKIP
>>> model.predict_proba(checked.frame[checked.valid])  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CheckedCases": "contract",
    "check_cases": "contract",
    "infer_contract": "contract",
    "CreditRiskClassifier": "estimator",
    "Explanation": "explain",
    "ExplainerConfig": "explain",
    "LoadedModel": "loaded",
    "ModelCard": "card",
    "ModelRegistry": "registry",
    "TrainedModel": "training",
    "train": "training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"decision_review.modeling.{_EXPORTS[name]}"), name)
