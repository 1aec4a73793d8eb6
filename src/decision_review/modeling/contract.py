"""The input contract: what a case must look like for a model, and the vectorised check of cases.

Why a contract recorded beside the model: the engine receives raw fields from people and other
systems; before a score means anything, each case must have the fields the model was trained on,
of the right type. Bad case data is never an exception here: each row gets an error message (the
engine decides those cases as errors) and flags the policy can act on (out of range, unseen
category, missing values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from decision_review.datasets.base import Dataset
from decision_review.schemas import ENGINE_FIELDS, FieldKind, FieldSpec, InputContract

MAX_SHOWN_VALUE = 40
# Largest whole number a float holds exactly; beyond it an integer field's value is not meaningful.
MAX_WHOLE = 2.0**53


def infer_contract(dataset: Dataset) -> InputContract:
    """Record each raw field's type, categories and observed range from the training data.

    Sources of protected attributes are carried with ``model_input=False``: validated and stored,
    available to policy rules, never fed to the model.

    >>> infer_contract(load_dataset("german_credit")).field("age_in_years").model_input  # doctest: +SKIP
    False
    """
    return contract_from_frame(
        dataset.frame, protected=dataset.protected_attributes, id_field=_id_field(dataset)
    )


def contract_from_frame(frame: pd.DataFrame, *, protected=(), id_field: str = "case_id") -> InputContract:
    """`infer_contract` for a bare frame (every column a model input unless it is a protected source)."""
    protected = list(protected)
    sources = {p.source for p in protected}
    fields = []
    for name in frame.columns:
        column = frame[name]
        nullable = bool(column.isna().any())
        if is_numeric(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            fields.append(
                FieldSpec(
                    name=str(name),
                    kind=FieldKind.NUMERIC,
                    model_input=name not in sources,
                    nullable=nullable,
                    integer=bool(np.all(present == np.round(present))),
                    minimum=float(present.min()),
                    maximum=float(present.max()),
                )
            )
        else:
            categories = sorted(set(column.dropna().astype(str)))
            fields.append(
                FieldSpec(
                    name=str(name),
                    kind=FieldKind.CATEGORICAL,
                    model_input=name not in sources,
                    nullable=nullable,
                    categories=categories,
                )
            )
    return InputContract(id_field=id_field, fields=fields, protected=protected)


def is_numeric(column: pd.Series) -> bool:
    """Numeric means a number dtype other than bool (booleans are categories "True"/"False")."""
    return ptypes.is_numeric_dtype(column) and not ptypes.is_bool_dtype(column)


def _id_field(dataset: Dataset) -> str:
    name = dataset.ids.name
    return str(name) if isinstance(name, str) and name and name not in dataset.frame.columns else "case_id"


@dataclass(frozen=True)
class CheckedCases:
    """Cases coerced to the contract's types, with what is wrong with each row.

    `frame` has the contract's fields in contract order (numeric: float64, or Int64 for integer
    fields; categorical: str), same index as the input. `errors` holds None for a valid row, else
    a message naming each bad field and value. The three arrays are the engine fields of the same
    names (see `ENGINE_FIELDS`).
    """

    frame: pd.DataFrame
    errors: pd.Series
    out_of_range: np.ndarray
    unseen_category: np.ndarray
    missing_count: np.ndarray
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def valid(self) -> np.ndarray:
        """True for rows with no error: these can be scored."""
        return self.errors.isna().to_numpy()

    def engine_fields(self) -> pd.DataFrame:
        """The flags as columns, ready to join to the cases before a policy runs."""
        return pd.DataFrame(
            {
                "out_of_range": self.out_of_range,
                "unseen_category": self.unseen_category,
                "missing_count": self.missing_count,
            },
            index=self.frame.index,
        )


def check_cases(frame: pd.DataFrame, contract: InputContract) -> CheckedCases:
    """Validate and coerce cases against the contract, vectorised, without ever raising for bad data.

    A field's column missing from the whole frame makes every row an error naming it (even a
    nullable field: a missing column is almost always a renamed field, and scoring everyone as
    "value unknown" would hide that). Columns the contract does not know are ignored and listed in
    `unknown_columns`.

    >>> checked = check_cases(pd.DataFrame({"duration_in_month": ["abc"]}), contract)  # doctest: +SKIP
    >>> checked.errors.iloc[0]  # doctest: +SKIP
    "field 'duration_in_month': 'abc' is not a number; ..."
    """
    n = len(frame)
    errors = np.full(n, None, dtype=object)
    out_of_range = np.zeros(n, dtype=bool)
    unseen = np.zeros(n, dtype=bool)
    missing_count = np.zeros(n, dtype=np.int64)
    # Categorical columns stay pandas str arrays (Arrow-backed): no round trip through Python objects.
    columns: dict[str, pd.Series | pd.api.extensions.ExtensionArray | np.ndarray] = {}

    for spec in contract.fields:
        if spec.name not in frame.columns:
            _add(errors, np.ones(n, dtype=bool), f"column {spec.name!r} is missing (required field)")
            if spec.model_input:
                missing_count += 1
            columns[spec.name] = _empty(spec, frame.index)
            continue
        raw = frame[spec.name]
        if spec.kind is FieldKind.NUMERIC:
            values, missing, bad = _coerce_numeric(raw, spec, errors)
            if spec.model_input:
                present = ~missing & ~bad
                if spec.minimum is not None:
                    out_of_range |= present & (values < spec.minimum)
                if spec.maximum is not None:
                    out_of_range |= present & (values > spec.maximum)
            columns[spec.name] = (
                _as_integers(values, bad | missing) if spec.integer else np.where(bad, np.nan, values)
            )
        else:
            text, missing = _coerce_categorical(raw)
            if spec.model_input:
                unseen |= ~missing & ~text.isin(spec.categories or []).to_numpy()
            columns[spec.name] = text.array
        if not spec.nullable:
            _add(errors, missing, f"field {spec.name!r} has no value (required)")
        if spec.model_input:
            missing_count += missing

    known = {*contract.field_names, contract.id_field, *ENGINE_FIELDS}
    unknown = [str(c) for c in frame.columns if c not in known]
    coerced = pd.DataFrame(columns, index=frame.index)
    return CheckedCases(
        frame=coerced,
        errors=pd.Series(errors, index=frame.index, dtype=object, name="error"),
        out_of_range=out_of_range,
        unseen_category=unseen,
        missing_count=missing_count,
        unknown_columns=unknown,
    )


def _empty(spec: FieldSpec, index: pd.Index) -> pd.Series | np.ndarray:
    n = len(index)
    if spec.kind is FieldKind.NUMERIC:
        return _as_integers(np.zeros(n), np.ones(n, dtype=bool)) if spec.integer else np.full(n, np.nan)
    return pd.array(np.full(n, np.nan, dtype=object), dtype="str")


def _as_integers(values: np.ndarray, absent: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole numbers as a nullable Int64 array; `absent` rows (missing or unusable) become <NA>."""
    return pd.arrays.IntegerArray(np.where(absent, 0, values).astype(np.int64), absent.copy())


def _blank(raw: pd.Series, text: pd.Series | None = None) -> np.ndarray:
    """Missing: NA/None/NaN, or text that is empty after trimming (how forms and CSVs say 'no value')."""
    missing = raw.isna().to_numpy().copy()
    if not is_numeric(raw) and not ptypes.is_bool_dtype(raw):
        text = raw.astype("str") if text is None else text
        missing |= (text.str.strip() == "").to_numpy(dtype=bool, na_value=False)
    return missing


def _coerce_numeric(
    raw: pd.Series, spec: FieldSpec, errors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, the missing mask, and the mask of rows with an unusable value (already reported)."""
    if is_numeric(raw):
        missing = raw.isna().to_numpy()
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        missing = _blank(raw)
        values = pd.to_numeric(raw.where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    name = spec.name
    unparsed = np.isnan(values) & ~missing
    _add(errors, unparsed, lambda: _messages(raw, unparsed, name, "is not a number"))
    infinite = np.isinf(values)
    _add(errors, infinite, lambda: _messages(raw, infinite, name, "is not a finite number"))
    bad = unparsed | infinite
    if spec.integer:
        with np.errstate(invalid="ignore"):
            fractional = ~missing & ~bad & (values != np.round(values))
        _add(errors, fractional, lambda: _messages(raw, fractional, name, "is not a whole number"))
        huge = ~missing & ~bad & ~fractional & (np.abs(np.nan_to_num(values)) > MAX_WHOLE)
        _add(errors, huge, lambda: _messages(raw, huge, name, "is too large"))
        bad |= fractional | huge
    return values, missing, bad


def _coerce_categorical(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Values as text (whole floats written without '.0', so 1.0 matches category "1")."""
    if isinstance(raw.dtype, pd.StringDtype):
        text = raw
    elif ptypes.is_float_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (values == np.round(values))
        as_int = pd.Series(np.where(whole, values, 0).astype(np.int64), index=raw.index).astype("str")
        text = raw.astype("str").where(~whole, as_int)
    else:
        text = raw.astype("str")
    missing = _blank(raw, text)
    if missing.any():
        text = text.where(~missing)
    return text, missing


def _messages(raw: pd.Series, mask: np.ndarray, field_name: str, problem: str) -> np.ndarray:
    """One message per flagged row, naming the field and the offending value (shortened)."""
    shown = raw[mask].astype("str").str.slice(0, MAX_SHOWN_VALUE)
    return (f"field {field_name!r}: '" + shown + f"' {problem}").to_numpy(dtype=object)


def _add(errors: np.ndarray, mask: np.ndarray, message: str | Callable[[], np.ndarray]) -> None:
    """Append `message` to the error of each flagged row ("; " between several problems).

    Per-row messages come from a callable, built only when some row is flagged: on clean data
    (the usual case) no message is ever formatted.
    """
    idx = np.flatnonzero(mask)
    if not len(idx):
        return
    new = np.full(len(idx), message, dtype=object) if isinstance(message, str) else message()
    old = errors[idx]
    first = pd.isna(old)
    errors[idx[first]] = new[first]
    if (~first).any():
        errors[idx[~first]] = old[~first] + "; " + new[~first]
