"""Bring your own data: read a CSV or Parquet file and turn it into a `Dataset`.

Why one path for bundled and user data: the bundled `credit_data` goes through exactly the
function a risk team's file does, so what the product shows on its own data is what a team gets
on theirs. Every problem with the file (missing, empty, unreadable, unknown column, a target
that is not binary) is an `InvalidInput` that says what to change, never a pandas traceback.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from decision_review.datasets.base import Dataset
from decision_review.errors import InvalidInput
from decision_review.schemas import ENGINE_FIELDS, ProtectedAttribute

CSV_SUFFIXES = {".csv", ".txt"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
# A text column with more distinct values than this is almost always an id, a date or free text:
# one-hot encoding it would make a model that memorises rows. The user drops it or names it as --id.
MAX_CATEGORIES = 200
# Open ends of numeric protected-attribute bands: JSON has no infinity, the largest float reads
# as "no bound" and survives a JSON round trip exactly.
OPEN_END = sys.float_info.max


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame (types inferred by the reader).

    >>> read_table("no-such-file.csv")  # doctest: +SKIP
    InvalidInput: data file no-such-file.csv does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"data file {path} does not exist (or is not a file)")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise InvalidInput(
            f"data file {path}: unsupported type {suffix or '(no extension)'!r}; give a .csv or .parquet file"
        )
    if path.stat().st_size == 0:
        raise InvalidInput(f"data file {path} is empty")
    try:
        frame = pd.read_parquet(path) if suffix in PARQUET_SUFFIXES else pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"data file {path} has no columns (is it empty?)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        kind = "Parquet" if suffix in PARQUET_SUFFIXES else "CSV"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"data file {path} could not be read as {kind}: {first_line}") from exc
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InvalidInput(
            f"data file {path} has no data rows (only {frame.shape[1]} column(s) and a header)"
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def dataset_from_table(
    frame: pd.DataFrame,
    *,
    name: str,
    target: str,
    bad_value: str | float | int | bool,
    id_column: str | None = None,
    protected: Iterable[str] = (),
    drop: Iterable[str] = (),
    description: str = "",
    attribution: str = "",
) -> Dataset:
    """Turn a user's table into a `Dataset`: features, target (1 = bad), ids and protected attributes.

    `bad_value` is compared with the target's values as text, or as a number when the target
    column is numeric (so ``--bad-value 1`` matches 1 and 1.0). Each `protected` column stays in
    the frame as a non-model field and becomes a protected attribute: numeric columns get bands
    (quartiles computed here and recorded), text columns are used as they are. Columns in `drop`
    are removed. Rows are kept in file order, so generated ids are stable for the same file.

    >>> ds = dataset_from_table(df, name="loans", target="Status", bad_value="bad")  # doctest: +SKIP
    """
    protected = list(dict.fromkeys(protected))
    drop = list(dict.fromkeys(drop))
    _check_name(name)
    columns = list(frame.columns)
    named = {"--target": [target], "--protected": protected, "--drop": drop}
    if id_column is not None:
        named["--id"] = [id_column]
    for option, cols in named.items():
        unknown = [c for c in cols if c not in frame.columns]
        if unknown:
            raise InvalidInput(
                f"{option}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"the data has: {', '.join(map(repr, columns))}"
            )
    _check_roles(target, id_column, protected, drop)

    y = _binary_target(frame[target], target, bad_value)
    ids = _case_ids(frame, id_column, name)
    features = frame.drop(columns=[target, *drop, *([id_column] if id_column else [])])
    if features.shape[1] == 0:
        raise InvalidInput("no feature columns left after removing the target, id and dropped columns")
    if not [c for c in features.columns if c not in protected]:
        raise InvalidInput("every remaining column is protected; the model needs at least one other feature")
    features = _normalise_columns(features)
    attributes = [_protected_attribute(features[c], c) for c in protected]
    return Dataset(
        name=name,
        frame=features.reset_index(drop=True),
        target=pd.Series(y, name="bad"),
        ids=ids,
        protected_attributes=attributes,
        description=description,
        attribution=attribution,
    )


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise InvalidInput(
            f"name {name!r} is not usable: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


def _check_roles(target: str, id_column: str | None, protected: list[str], drop: list[str]) -> None:
    roles = {"--target": {target}, "--protected": set(protected), "--drop": set(drop)}
    if id_column is not None:
        roles["--id"] = {id_column}
    items = list(roles.items())
    for i, (a, cols_a) in enumerate(items):
        for b, cols_b in items[i + 1 :]:
            both = cols_a & cols_b
            if both:
                raise InvalidInput(
                    f"column(s) {sorted(both)} given both as {a} and {b}; give each column one role"
                )


def _binary_target(column: pd.Series, target: str, bad_value: str | float | int | bool) -> np.ndarray:
    missing = int(column.isna().sum())
    if missing:
        raise InvalidInput(
            f"target column {target!r} has {missing} row(s) with no value; remove them or fill in the outcome"
        )
    values = column.unique()
    if len(values) != 2:
        shown = ", ".join(repr(_plain(v)) for v in values[:10]) + (", ..." if len(values) > 10 else "")
        raise InvalidInput(
            f"target column {target!r} must have exactly two values (good and bad outcome); "
            f"it has {len(values)}: {shown}"
        )
    if ptypes.is_bool_dtype(column):
        text = str(bad_value).strip().lower()
        if text not in {"true", "false", "1", "0"}:
            raise InvalidInput(
                f"--bad-value {bad_value!r} is not a value of boolean target {target!r}; use true or false"
            )
        is_bad = column.to_numpy(dtype=bool) == (text in {"true", "1"})
    elif ptypes.is_numeric_dtype(column):
        try:
            bad = float(bad_value)
        except (TypeError, ValueError):
            bad = None
        is_bad = column.to_numpy(dtype=float) == bad if bad is not None else np.zeros(len(column), dtype=bool)
    else:
        is_bad = (column.astype(str) == str(bad_value)).to_numpy()
    if not is_bad.any():
        raise InvalidInput(
            f"--bad-value {bad_value!r} does not occur in target column {target!r}; "
            f"its values are {', '.join(repr(_plain(v)) for v in values)}"
        )
    return is_bad.astype(np.int8)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _case_ids(frame: pd.DataFrame, id_column: str | None, name: str) -> pd.Series:
    """Stable ids: the user's id column (unique, no gaps), or PREFIX-0001 in row order."""
    if id_column is None:
        return generated_ids(name, len(frame))
    ids = frame[id_column]
    if ids.isna().any():
        raise InvalidInput(f"--id column {id_column!r} has {int(ids.isna().sum())} row(s) with no id")
    ids = ids.astype(str).reset_index(drop=True)
    dupes = ids[ids.duplicated()].unique()
    if len(dupes):
        raise InvalidInput(
            f"--id column {id_column!r} is not unique: {', '.join(map(repr, dupes[:5]))} repeat(s); "
            "give a column that identifies each case, or leave out --id to generate ids"
        )
    return ids.rename(id_column)


def generated_ids(name: str, n: int) -> pd.Series:
    """Ids like ``GC-0001`` for ``german_credit``: the initials of the name, then the row number."""
    prefix = "".join(part[0] for part in re.split(r"[_.\-\s]+", name) if part).upper() or "CASE"
    width = max(4, len(str(n)))
    return pd.Series([f"{prefix}-{i:0{width}d}" for i in range(1, n + 1)], name="case_id", dtype=str)


def _normalise_columns(features: pd.DataFrame) -> pd.DataFrame:
    """Each column becomes float64 (numeric) or str (categorical); unusable columns are errors."""
    out: dict[str, pd.Series] = {}
    for col in features.columns:
        if col in ENGINE_FIELDS:
            raise InvalidInput(
                f"column {col!r} has a name the engine reserves ({', '.join(ENGINE_FIELDS)}); "
                "rename it in the file or --drop it"
            )
        series = features[col]
        if series.isna().all():
            raise InvalidInput(f"column {col!r} has no values at all; --drop it")
        if ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
            out[col] = series.astype("float64")
            continue
        text = series.astype("str").where(series.notna())
        n_distinct = text.nunique(dropna=True)
        if n_distinct > MAX_CATEGORIES:
            raise InvalidInput(
                f"column {col!r} holds {n_distinct} distinct text values, too many for a categorical field "
                f"(at most {MAX_CATEGORIES}); --drop it, or pass it as --id if it identifies the case"
            )
        out[col] = text
    return pd.DataFrame(out, index=features.index)


def _protected_attribute(column: pd.Series, name: str) -> ProtectedAttribute:
    """Numeric: quartile bands (open-ended outer bands); categorical: the value itself.

    The reference group (what the adverse impact ratio compares with) is the largest group, the
    usual choice when nothing else is known; a risk team can change it in the contract.
    """
    if not ptypes.is_numeric_dtype(column):
        counts = column.value_counts()
        return ProtectedAttribute(name=name, source=name, reference_group=str(counts.index[0]))
    values = column.dropna().to_numpy(dtype=float)
    whole = bool(np.all(values == np.round(values)))
    cuts = np.unique(np.quantile(values, [0.25, 0.5, 0.75]))
    if whole:
        cuts = np.unique(np.round(cuts))
    cuts = cuts[(cuts > values.min()) & (cuts <= values.max())]
    bins = [-OPEN_END, *cuts.tolist(), OPEN_END]
    labels = _band_labels(cuts.tolist(), whole)
    codes = np.searchsorted(np.asarray(bins), values, side="right") - 1
    reference = labels[int(np.bincount(codes, minlength=len(labels)).argmax())]
    return ProtectedAttribute(name=name, source=name, bins=bins, labels=labels, reference_group=reference)


def _band_labels(cuts: list[float], whole: bool) -> list[str]:
    def fmt(x: float) -> str:
        return str(int(x)) if whole else f"{x:g}"

    if not cuts:
        return ["all"]
    labels = [f"<{fmt(cuts[0])}"]
    for lo, hi in itertools.pairwise(cuts):
        labels.append(f"{fmt(lo)}-{fmt(hi - 1)}" if whole and hi - 1 >= lo else f"{fmt(lo)} to <{fmt(hi)}")
    labels.append(f"{fmt(cuts[-1])}+")
    return labels
