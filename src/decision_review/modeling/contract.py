"""The input contract: what a case must look like for a model, and the vectorised check of cases.

Why a contract recorded beside the model: the engine receives raw fields from people and other
systems; before a score means anything, each case must have the fields the model was trained on,
of the right type. Bad case data is never an exception here: each row gets an error message (the
engine decides those cases as errors) and flags the policy can act on (out of range, unseen
category, missing values).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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

    >>> infer_contract(load_dataset("fraud_alerts")).field("customer_age").model_input  # doctest: +SKIP
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


@dataclass(frozen=True)
class CheckedColumns:
    """The same check kept as columns: numpy arrays for numbers and codes, Arrow arrays for text.

    Why not a pandas frame: the engine feeds these straight to the model matrix (numbers, category
    codes) and to the policy (polars reads the Arrow text directly); for one case, building pandas
    columns nobody reads would cost more than the check itself. `to_checked_cases` builds
    the `CheckedCases` frame from them.

    `numbers`: numeric fields as float64, NaN where missing or unusable. `texts`: categorical fields
    as Arrow large_string, null where missing (the value as given, not trimmed). `codes`: for the
    same fields, the value's position in the contract's categories, `UNSEEN` or `MISSING`.
    `ids`: the id column as trimmed text, null where missing or blank (only when asked for).
    """

    index: pd.Index
    numbers: dict[str, np.ndarray]
    texts: dict[str, pa.Array]
    codes: dict[str, np.ndarray]
    errors: np.ndarray
    out_of_range: np.ndarray
    unseen_category: np.ndarray
    missing_count: np.ndarray
    unknown_columns: list[str] = field(default_factory=list)
    ids: pa.Array | None = None

    @property
    def valid(self) -> np.ndarray:
        """True for rows with no error: these can be scored."""
        return np.equal(self.errors, None)

    def to_checked_cases(self, contract: InputContract) -> CheckedCases:
        """The pandas form (`check_cases`' result): integer fields Int64, categorical ones str."""
        columns: dict[str, object] = {}
        for spec in contract.fields:
            if spec.kind is FieldKind.NUMERIC:
                values = self.numbers[spec.name]
                columns[spec.name] = _as_integers(values, np.isnan(values)) if spec.integer else values
            else:
                columns[spec.name] = text_array(self.texts[spec.name])
        return CheckedCases(
            frame=pd.DataFrame(columns, index=self.index),
            errors=pd.Series(self.errors, index=self.index, dtype=object, name="error"),
            out_of_range=self.out_of_range,
            unseen_category=self.unseen_category,
            missing_count=self.missing_count,
            unknown_columns=self.unknown_columns,
        )


def check_cases(frame: pd.DataFrame, contract: InputContract) -> CheckedCases:
    """Validate and coerce cases against the contract, vectorised, without ever raising for bad data.

    A field's column missing from the whole frame makes every row an error naming it (even a
    nullable field: a missing column is almost always a renamed field, and scoring everyone as
    "value unknown" would hide that). Columns the contract does not know are ignored and listed in
    `unknown_columns`. (`CaseChecker` is the same check prepared once per contract, for callers
    that check many batches.)

    >>> checked = check_cases(pd.DataFrame({"amount_minor": ["abc"]}), contract)  # doctest: +SKIP
    >>> checked.errors.iloc[0]  # doctest: +SKIP
    "field 'amount_minor': 'abc' is not a number; ..."
    """
    return CaseChecker(contract).check(frame).to_checked_cases(contract)


# Category codes besides a category's position: a value the model never saw, and no value at all.
UNSEEN = -1
MISSING = -2
# Categorical values are looked up in groups of fields holding about this many values together: one
# case then costs one Arrow lookup for all its fields, a million cases one lookup per field.
LOOKUP_GROUP_VALUES = 1 << 16
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str" dtype
_NO_TEXT = pa.scalar(None, type=pa.large_string())
_EMPTY_TEXT = pa.scalar("", type=pa.large_string())


class CaseChecker:
    """`check_cases` for one contract, prepared once, with the checks done across fields at once.

    Why this shape: an online case is a batch of one, where the cost is the number of numpy and
    Arrow calls, not their size. So the numeric fields are stacked into one matrix and checked
    together (usable, out of range, missing) and every categorical value of the batch is found
    with one Arrow hash lookup in the sorted union of the contract's categories, a small table then
    turning the union position into each field's own category code. Error messages, which need
    the field-by-field order, are only written when some row has a problem.
    """

    def __init__(self, contract: InputContract) -> None:
        self.contract = contract
        numeric = [f for f in contract.fields if f.kind is FieldKind.NUMERIC]
        categorical = [f for f in contract.fields if f.kind is FieldKind.CATEGORICAL]
        self._numeric = [f.name for f in numeric]
        self._categorical = [f.name for f in categorical]
        self._integer = np.array([f.integer for f in numeric], dtype=bool)
        self._numeric_inputs = np.array([f.model_input for f in numeric], dtype=bool)
        self._categorical_inputs = np.array([f.model_input for f in categorical], dtype=bool)
        # Range limits of model inputs (other fields are never out of range).
        self._minimum = np.array(
            [f.minimum if f.model_input and f.minimum is not None else -np.inf for f in numeric]
        )[:, None]
        self._maximum = np.array(
            [f.maximum if f.model_input and f.maximum is not None else np.inf for f in numeric]
        )[:, None]
        self._required_numeric = np.array([not f.nullable for f in numeric], dtype=bool)
        self._required_categorical = np.array([not f.nullable for f in categorical], dtype=bool)
        union = sorted({c for f in categorical for c in f.categories or ()})
        position = {c: i for i, c in enumerate(union)}
        # Row j, column u: field j's code for union value u; the extra last column is "not found".
        table = np.full((len(categorical), len(union) + 1), UNSEEN, dtype=np.int32)
        for j, spec in enumerate(categorical):
            for code, category in enumerate(spec.categories or ()):
                table[j, position[category]] = code
        self._table = table
        self._not_found = len(union)
        self._lookup = pc.SetLookupOptions(pa.array(union, type=pa.large_string()))
        # A blank category (possible in odd training data) is still "no value": test every value then.
        self._blank_category = any(c.strip() == "" for c in union)
        self._known = {*contract.field_names, contract.id_field, *ENGINE_FIELDS}

    def check(self, frame: pd.DataFrame, *, ids: bool = False) -> CheckedColumns:
        """Check `frame`; with `ids=True` also read the contract's id column (which must be there)."""
        n = len(frame)
        given = frame.columns.tolist()
        present = set(given)
        raw = {name: frame[name] for name in self.contract.field_names if name in present}
        texts = {
            name: _text(raw[name]) if name in raw else pa.nulls(n, type=pa.large_string())
            for name in self._categorical
        }
        codes = self._codes(list(texts.values()), n)
        values, missing = self._number_matrix(raw, n)
        bad = ~_usable(values, missing, self._integer)
        numbers = np.where(bad, np.nan, values) if bad.any() else values
        with np.errstate(invalid="ignore"):
            outside = (values < self._minimum) | (values > self._maximum)
        out_of_range = (outside & ~missing & ~bad)[self._numeric_inputs].any(axis=0)
        absent_text = codes == MISSING
        unseen = (codes == UNSEEN)[self._categorical_inputs].any(axis=0)
        missing_count = missing[self._numeric_inputs].sum(axis=0, dtype=np.int64) + absent_text[
            self._categorical_inputs
        ].sum(axis=0, dtype=np.int64)
        errors = np.full(n, None, dtype=object)
        if (
            len(raw) < len(self.contract.fields)
            or bad.any()
            or missing[self._required_numeric].any()
            or absent_text[self._required_categorical].any()
        ):
            self._report(errors, raw, values, missing, absent_text)
        absent_counts = absent_text.sum(axis=1).tolist()
        for j, name in enumerate(self._categorical):  # blank text counts as no value: make it null
            if texts[name].null_count != absent_counts[j]:
                texts[name] = pc.if_else(pa.array(absent_text[j]), _NO_TEXT, texts[name])
        return CheckedColumns(
            index=frame.index,
            numbers=dict(zip(self._numeric, numbers, strict=True)),
            texts=texts,
            codes=dict(zip(self._categorical, codes, strict=True)),
            errors=errors,
            out_of_range=out_of_range,
            unseen_category=unseen,
            missing_count=missing_count,
            unknown_columns=[str(c) for c in given if c not in self._known],
            ids=_ids(frame[self.contract.id_field]) if ids else None,
        )

    def _number_matrix(self, raw: dict[str, pd.Series], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Numeric fields stacked: float values and the missing mask (a column not given: all missing)."""
        values = np.full((len(self._numeric), n), np.nan)
        missing = np.ones((len(self._numeric), n), dtype=bool)
        for i, name in enumerate(self._numeric):
            if name in raw:
                values[i], missing[i] = _numbers(raw[name])
        return values, missing

    def _report(
        self,
        errors: np.ndarray,
        raw: dict[str, pd.Series],
        values: np.ndarray,
        missing: np.ndarray,
        absent_text: np.ndarray,
    ) -> None:
        """Write each bad row's message, field by field in contract order (only when some row is bad)."""
        numeric = {name: i for i, name in enumerate(self._numeric)}
        categorical = {name: j for j, name in enumerate(self._categorical)}
        for spec in self.contract.fields:
            if spec.name not in raw:
                _add(
                    errors,
                    np.ones(len(errors), dtype=bool),
                    f"column {spec.name!r} is missing (required field)",
                )
                continue
            if spec.kind is FieldKind.NUMERIC:
                i = numeric[spec.name]
                _report_numbers(errors, raw[spec.name], spec, values[i], missing[i])
                field_missing = missing[i]
            else:
                field_missing = absent_text[categorical[spec.name]]
            if not spec.nullable:
                _add(errors, field_missing, f"field {spec.name!r} has no value (required)")

    def _codes(self, texts: list[pa.Array], n: int) -> np.ndarray:
        """Category codes (see `CheckedColumns.codes`), one row per categorical field, fields in groups."""
        k = len(texts)
        out = np.empty((k, n), dtype=np.int32)
        group = max(1, LOOKUP_GROUP_VALUES // max(n, 1))
        for start in range(0, k if n else 0, group):
            part = texts[start : start + group]
            values = pa.concat_arrays(part) if len(part) > 1 else part[0]
            found = pc.index_in(values, options=self._lookup)
            union_position = (pc.fill_null(found, self._not_found) if found.null_count else found).to_numpy()
            rows = np.arange(start, start + len(part))[:, None]
            block = out[start : start + len(part)]
            block[:] = self._table[rows, union_position.reshape(len(part), n)]
            if found.null_count or self._blank_category:
                flat = block.reshape(-1)
                candidates = (
                    np.arange(len(flat))
                    if self._blank_category
                    else np.flatnonzero(union_position == self._not_found)
                )
                flat[candidates[_blank(values.take(candidates))]] = MISSING
        return out


def text_array(values: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """Arrow text as a pandas "str" array, without a copy (large_string is what pandas stores)."""
    if values.type != pa.large_string():
        values = values.cast(pa.large_string())
    return pd.arrays.ArrowStringArray(values, dtype=_STR)


def _arrow_text(column: pd.Series) -> pa.Array:
    """A pandas string column as one Arrow large_string array (no copy for pandas' own "str")."""
    values = pa.array(column.array)
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def _text(raw: pd.Series) -> pa.Array:
    """A categorical field's values as text, null where missing (NA/None/NaN).

    Text columns go to Arrow as they are. Anything else becomes text as pandas writes it, whole
    floats without '.0' (so 1.0 matches category "1"); this path runs only for unusual input.
    """
    if isinstance(raw.dtype, pd.StringDtype):
        return _arrow_text(raw)
    if ptypes.is_float_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (values == np.round(values))
        with np.errstate(invalid="ignore"):
            as_int = pd.Series(np.where(whole, values, 0).astype(np.int64), index=raw.index).astype("str")
        text = raw.astype("str").where(~whole, as_int)
    else:
        text = raw.astype("str")
    return _arrow_text(text.where(~raw.isna().to_numpy()))


def _blank(values: pa.Array) -> np.ndarray:
    """Missing: null, or text that is empty after trimming (how forms and CSVs say 'no value').

    Arrow trims the same characters as Python's ``str.strip``.
    """
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), _EMPTY_TEXT), True)
    return empty.to_numpy(zero_copy_only=False)


def _ids(raw: pd.Series) -> pa.Array:
    """Case ids as trimmed text; a missing or blank id becomes null."""
    text = _arrow_text(raw if isinstance(raw.dtype, pd.StringDtype) else raw.astype("string"))
    trimmed = pc.utf8_trim_whitespace(text)
    blank = pc.equal(trimmed, _EMPTY_TEXT)
    return pc.if_else(blank, _NO_TEXT, trimmed) if pc.any(blank).as_py() else trimmed


def _as_integers(values: np.ndarray, absent: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole numbers as a nullable Int64 array; `absent` rows (missing or unusable) become <NA>."""
    return pd.arrays.IntegerArray(np.where(absent, 0, values).astype(np.int64), absent.copy())


def _numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float values and the missing mask of a numeric field's column.

    Plain numpy number columns (the usual case) are read directly; anything else goes through
    pandas: missing is NA/None/NaN or blank text, and text is parsed by ``pd.to_numeric``.
    """
    data = raw.values
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
        values = data.astype(np.float64, copy=False)
        return values, np.isnan(values) if data.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    if is_numeric(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan), raw.isna().to_numpy()
    missing = raw.isna().to_numpy().copy()
    if not ptypes.is_bool_dtype(raw):
        missing |= (raw.astype("str").str.strip() == "").to_numpy(dtype=bool, na_value=False)
    present = raw.where(~missing)
    try:
        parsed = pd.to_numeric(present, errors="coerce")
    except OverflowError:  # a whole number beyond any float (Python's ints are unbounded): infinite
        parsed = pd.to_numeric(present.map(_beyond_float_as_infinite), errors="coerce")
    return parsed.to_numpy(dtype=float, na_value=np.nan), missing


def too_large_for_float(value: Any) -> bool:
    """A whole number no float can hold: Python's ints are unbounded, and JSON and CSV readers
    give them as read."""
    return isinstance(value, int) and abs(value) > sys.float_info.max


def _beyond_float_as_infinite(value: Any) -> Any:
    if too_large_for_float(value):
        return math.inf if value > 0 else -math.inf
    return value


def _usable(values: np.ndarray, missing: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Values a score can use (or missing ones): finite, and for integer fields whole and exact in a float."""
    with np.errstate(invalid="ignore"):
        usable = missing | np.isfinite(values)
        if integer.any():
            whole = values[integer]
            usable[integer] &= missing[integer] | ((whole == np.round(whole)) & (np.abs(whole) <= MAX_WHOLE))
    return usable


def _report_numbers(
    errors: np.ndarray, raw: pd.Series, spec: FieldSpec, values: np.ndarray, missing: np.ndarray
) -> None:
    """Messages for a numeric field's unusable values, naming the value and what is wrong with it."""
    name = spec.name
    unparsed = np.isnan(values) & ~missing
    _add(errors, unparsed, lambda: _messages(raw, unparsed, name, "is not a number"))
    infinite = np.isinf(values)
    _add(errors, infinite, lambda: _messages(raw, infinite, name, "is not a finite number"))
    if spec.integer:
        bad = unparsed | infinite
        with np.errstate(invalid="ignore"):
            fractional = ~missing & ~bad & (values != np.round(values))
        _add(errors, fractional, lambda: _messages(raw, fractional, name, "is not a whole number"))
        huge = ~missing & ~bad & ~fractional & (np.abs(np.nan_to_num(values)) > MAX_WHOLE)
        _add(errors, huge, lambda: _messages(raw, huge, name, "is too large"))


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
