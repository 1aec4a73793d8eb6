"""Turn raw fields into the model's numeric matrix: numbers as they are, categories one-hot.

Why one-hot with fixed categories, done here in numpy rather than xgboost's native categoricals:
the layout is a plain JSON description (no code to load), an unseen category becomes all zeros
(the case is scored as "none of the known categories" and flagged by the contract check), a
missing value stays NaN so the trees' learned default direction handles it, and every matrix
column belongs to exactly one field, so SHAP values of the columns sum back to their field with
TreeSHAP's exactness intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from decision_review.errors import InvalidInput
from decision_review.modeling.contract import MISSING
from decision_review.schemas import FieldKind, InputContract


@dataclass(frozen=True)
class EncodedField:
    """One model-input field and the matrix columns [start, stop) it occupies."""

    name: str
    kind: FieldKind
    start: int
    stop: int
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class OneHotLayout:
    """The column layout of the model matrix; saved as preprocess.json beside the booster."""

    fields: tuple[EncodedField, ...]

    @classmethod
    def from_contract(cls, contract: InputContract) -> OneHotLayout:
        fields, start = [], 0
        for spec in contract.fields:
            if not spec.model_input:
                continue
            if spec.kind is FieldKind.NUMERIC:
                fields.append(EncodedField(spec.name, spec.kind, start, start + 1))
                start += 1
            else:
                cats = tuple(spec.categories or ())
                fields.append(EncodedField(spec.name, spec.kind, start, start + len(cats), cats))
                start += len(cats)
        return cls(tuple(fields))

    @property
    def n_columns(self) -> int:
        return self.fields[-1].stop if self.fields else 0

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def columns(self) -> list[str]:
        """Readable column names, ``field`` or ``field=category``."""
        out: list[str] = []
        for f in self.fields:
            out.extend([f.name] if f.kind is FieldKind.NUMERIC else [f"{f.name}={c}" for c in f.categories])
        return out

    @property
    def field_starts(self) -> np.ndarray:
        """First column of each field, for folding column values back to fields with ``np.add.reduceat``."""
        return np.array([f.start for f in self.fields], dtype=np.intp)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The float32 model matrix for `frame` (checked cases), vectorised per field, not per row."""
        missing = [f.name for f in self.fields if f.name not in frame.columns]
        if missing:
            raise InvalidInput(
                f"cases lack model input column(s) {missing}; check them with check_cases first"
            )
        numbers: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for f in self.fields:
            column = frame[f.name]
            if f.kind is FieldKind.NUMERIC:
                try:
                    numbers[f.name] = column.to_numpy(dtype=np.float32, na_value=np.nan)
                except (TypeError, ValueError) as exc:
                    raise InvalidInput(
                        f"field {f.name!r} holds values that are not numbers; "
                        "check the cases with check_cases first"
                    ) from exc
            else:
                code = _category_codes(column, f.categories)
                code[column.isna().to_numpy()] = MISSING
                codes[f.name] = code
        return self.encode(numbers, codes)

    def encode(
        self,
        numbers: Mapping[str, np.ndarray],
        codes: Mapping[str, np.ndarray],
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """The float32 model matrix from checked columns (`CheckedColumns.numbers` and `.codes`).

        `codes` are positions in the field's categories, `UNSEEN` (all zeros) or `MISSING` (NaN).
        `rows` (a boolean mask or positions) encodes only those rows.
        """
        columns = [numbers[f.name] if f.kind is FieldKind.NUMERIC else codes[f.name] for f in self.fields]
        if rows is not None:
            columns = [column[rows] for column in columns]
        n = len(columns[0]) if columns else 0
        # Zeros first, then one write per field and row: the 1 of its category (at its flat
        # position), its number, or NaN across the block when it is missing. Writing whole one-hot
        # blocks instead touches every column of every row and costs about twice as much.
        out = np.zeros((n, self.n_columns), dtype=np.float32)
        flat = out.reshape(-1)
        row_starts = np.arange(n, dtype=np.int64) * self.n_columns
        for f, column in zip(self.fields, columns, strict=True):
            if f.kind is FieldKind.NUMERIC:
                out[:, f.start] = column
                continue
            known = column >= 0
            if known.all():
                flat[row_starts + f.start + column] = 1.0
                continue
            flat[row_starts[known] + f.start + column[known]] = 1.0
            absent = column == MISSING
            if absent.any():
                out[absent, f.start : f.stop] = np.nan
        return out

    def to_dict(self) -> dict:
        return {
            "encoding": "one-hot (fixed categories; unseen -> all zeros; missing -> NaN), numbers as float32",
            "columns": self.columns,
            "fields": [
                {
                    "name": f.name,
                    "kind": f.kind.value,
                    "start": f.start,
                    "stop": f.stop,
                    "categories": list(f.categories),
                }
                for f in self.fields
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> OneHotLayout:
        return cls(
            tuple(
                EncodedField(
                    name=f["name"],
                    kind=FieldKind(f["kind"]),
                    start=int(f["start"]),
                    stop=int(f["stop"]),
                    categories=tuple(f.get("categories") or ()),
                )
                for f in data["fields"]
            )
        )


def _category_codes(column: pd.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Position of each value in `categories`, -1 (`UNSEEN`) for unseen or missing.

    Text columns go through Arrow's hash lookup (several times faster than pandas' for a million
    rows); anything else is turned into text first.
    """
    if isinstance(column.dtype, pd.StringDtype):
        values = pa.array(column.array)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            found = pc.index_in(values, value_set=pa.array(categories, type=values.type))
            return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.intp)
    return pd.Index(categories).get_indexer(column.astype("str"))
