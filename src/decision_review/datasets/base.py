"""The shape every data set takes, bundled, generated or brought by the user.

Why a single shape: training, backtests and fairness reports must not care where the cases came
from. Protected attributes are described (how each derives from a raw field) rather than stored
as extra columns, so the same derivation applies to live cases the engine receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from decision_review.schemas import ProtectedAttribute


@dataclass(frozen=True)
class Dataset:
    """Cases with known outcomes.

    `frame` holds the raw fields a case carries (model inputs and the raw sources of protected
    attributes); `target` is 1 for the bad outcome; `ids` are stable case ids.
    """

    name: str
    frame: pd.DataFrame
    target: pd.Series
    ids: pd.Series
    protected_attributes: list[ProtectedAttribute] = field(default_factory=list)
    description: str = ""
    attribution: str = ""
    # What a model trained on these cases is for, and its known limits: written into the model card.
    # Empty means the card's domain-neutral defaults.
    intended_use: str = ""
    limitations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.frame)
        if len(self.target) != n or len(self.ids) != n:
            raise ValueError(f"data set {self.name!r}: frame, target and ids differ in length")

    @property
    def protected(self) -> pd.DataFrame:
        """The derived protected attributes, one column each, beside (never inside) the features."""
        return derive_protected(self.frame, self.protected_attributes)


def derive_protected(frame: pd.DataFrame, attributes: list[ProtectedAttribute]) -> pd.DataFrame:
    """Derive each protected attribute's group from its raw source field, vectorised.

    A value that is missing, unmapped or outside every bin becomes the group "unknown", so it is
    counted and disclosed in fairness reports rather than silently dropped.
    """
    out: dict[str, pd.Series] = {}
    for attr in attributes:
        source = frame[attr.source]
        if attr.mapping is not None:
            groups = source.astype("string").map(attr.mapping)
        elif attr.bins is not None:
            numeric = pd.to_numeric(source, errors="coerce")
            codes = (
                np.searchsorted(
                    np.asarray(attr.bins, dtype=float), numeric.to_numpy(dtype=float), side="right"
                )
                - 1
            )
            labels = np.asarray(attr.labels, dtype=object)
            valid = (codes >= 0) & (codes < len(labels)) & ~np.isnan(numeric.to_numpy(dtype=float))
            groups = pd.Series(
                np.where(valid, labels[np.clip(codes, 0, len(labels) - 1)], None), index=frame.index
            )
        else:
            groups = source if not ptypes.is_numeric_dtype(source) else source.astype("string")
        out[attr.name] = groups.astype("string").fillna("unknown").astype(str)
    return pd.DataFrame(out, index=frame.index)
