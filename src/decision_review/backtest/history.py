"""Historical cases with known outcomes, from a file or a bundled data set, checked before any replay.

Why a checked `History` rather than a bare frame: a backtest mixes columns with very different
roles (the raw fields the model and policy read, the known outcome, the amount at stake, what
people decided, the protected groups). Each is validated here once, with a message that names
the column and what to do, so the replay and the report can trust them. The schema of a history
file is in docs/backtest.md ("The history file").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from decision_review.datasets import available_datasets, derive_protected, load_dataset
from decision_review.datasets.tables import read_table
from decision_review.errors import InvalidInput
from decision_review.fairness import protected_attribute_settings
from decision_review.modeling.contract import MAX_WHOLE
from decision_review.schemas import InputContract, Outcome, ProtectedAttribute

OUTCOME_COLUMN = "bad"
HUMAN_OUTCOME = "human_outcome"
REVIEWER = "reviewer"
OVERRIDDEN = "overridden"
PRODUCT = "product"
FRAUD_DATASET = "fraud_alerts"
FRAUD_HISTORY_ROWS = 200_000
HUMAN_OUTCOMES = (Outcome.APPROVE.value, Outcome.DECLINE.value)


@dataclass(frozen=True, eq=False)
class History:
    """Cases to replay, with what is known about each.

    `cases`: the raw fields and the id column, as `decide` takes them. `outcome`: 1.0 bad, 0.0 good,
    NaN unknown (None when the history has no outcome column at all). `amount`: integer units of
    `currency` (minor units when `minor_digits` > 0), with `amount_missing` marking absent ones.
    `groups`: the protected attributes derived for monitoring, one column each. The human columns
    are what people decided on the cases they reviewed, when the history records it.
    `dataset` names the bundled data set these rows are (a model trained on it shares its name).
    """

    name: str
    cases: pd.DataFrame
    groups: pd.DataFrame
    attributes: list[ProtectedAttribute]
    outcome: np.ndarray | None = None
    outcome_column: str | None = None
    amount: np.ndarray | None = None
    amount_missing: np.ndarray | None = None
    amount_column: str | None = None
    currency: str | None = None
    minor_digits: int = 0
    human_outcome: pd.Series | None = None
    reviewer: pd.Series | None = None
    overridden: pd.Series | None = None
    product: str | None = None
    dataset: str | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def human_columns(self) -> list[str]:
        names = [
            (HUMAN_OUTCOME, self.human_outcome),
            (REVIEWER, self.reviewer),
            (OVERRIDDEN, self.overridden),
        ]
        return [name for name, column in names if column is not None]

    def fairness_settings(self) -> dict[str, dict]:
        """Reference and declared groups of the attributes, for `fairness_report`.

        Every reference group is declared, so it is listed (n = 0) even when no case has it; a
        reference group without cases is dropped (the report then compares with the group
        approved most often) and disclosed by `reference_notes`.
        """
        settings = protected_attribute_settings(self.attributes)
        declared = settings["declared_groups"]
        references = {}
        for name, group in settings["reference_groups"].items():
            declared[name] = list(dict.fromkeys([*declared.get(name, []), group]))
            if (self.groups[name] == group).any():
                references[name] = group
        return {"reference_groups": references, "declared_groups": declared}

    @property
    def reference_notes(self) -> list[str]:
        """Designated reference groups that no case of this history belongs to."""
        settings = protected_attribute_settings(self.attributes)
        return [
            f"{name}: the reference group {group!r} has no cases in this history; the group approved most "
            "often is the reference instead"
            for name, group in settings["reference_groups"].items()
            if not (self.groups[name] == group).any()
        ]


def load_history(
    *,
    contract: InputContract,
    data: str | Path | None = None,
    dataset: str | None = None,
    outcome_column: str | None = None,
    outcomes: bool = True,
    amount_column: str | None = None,
    currency: str | None = None,
    minor_digits: int = 0,
    product: str | None = None,
    attributes: Sequence[str] | None = None,
    rows: int | None = None,
) -> History:
    """Load a history from a CSV/Parquet file (`data`) or a bundled data set (`dataset`).

    `contract` is the model's input contract: its id field names the case id column and its
    protected attribute definitions say how groups derive from raw fields. `attributes` limits
    the report to some of them. `outcomes=False` replays a history without known outcomes (bad
    rates are then "n/a"). `rows` sizes the generated fraud history (default 200,000), or keeps
    the first rows of any other history.

    >>> history = load_history(dataset="german_credit", contract=model.contract)  # doctest: +SKIP
    """
    if (data is None) == (dataset is None):
        raise InvalidInput("give the history as a data file or a bundled data set name (exactly one)")
    if dataset is not None:
        frame, name, default_outcome, bundled = _bundled(dataset, rows, contract.id_field)
    else:
        frame, name, default_outcome, bundled = read_table(data), str(data), OUTCOME_COLUMN, None
        if rows is not None:
            frame = frame.iloc[:rows]
    return history_from_frame(
        frame,
        contract=contract,
        name=name,
        outcome_column=(outcome_column or default_outcome) if outcomes else None,
        amount_column=amount_column,
        currency=currency,
        minor_digits=minor_digits,
        product=product,
        attributes=attributes,
        dataset=bundled,
    )


def history_from_frame(
    frame: pd.DataFrame,
    *,
    contract: InputContract,
    name: str = "history",
    outcome_column: str | None = OUTCOME_COLUMN,
    amount_column: str | None = None,
    currency: str | None = None,
    minor_digits: int = 0,
    product: str | None = None,
    attributes: Sequence[str] | None = None,
    dataset: str | None = None,
) -> History:
    """Check a history frame's columns and build a `History` (see `load_history`)."""
    if not 0 <= minor_digits <= 4:
        raise InvalidInput(f"minor_digits must be 0 to 4 (2 for cents), got {minor_digits}")
    frame = frame.reset_index(drop=True)
    notes: list[str] = []
    frame, product = _filter_product(frame, name, product, notes)
    if len(frame) == 0:
        raise InvalidInput(f"history {name}: there are no cases to replay")
    if contract.id_field not in frame.columns:
        raise InvalidInput(
            f"history {name}: no case id column {contract.id_field!r} (the model's id field); "
            f"columns: {_columns(frame)}"
        )
    outcome = None
    if outcome_column is not None:
        outcome = _outcome(frame, name, outcome_column)
        unknown = int(np.isnan(outcome).sum())
        if unknown:
            notes.append(
                f"{unknown:,} of {len(frame):,} cases have no known outcome in {outcome_column!r}: "
                "they are left out of bad rates, realised loss, TPR/FPR and calibration"
            )
    else:
        notes.append("no outcome column: bad rates and realised loss are n/a (outcome unknown)")
    amount = missing = None
    if amount_column is not None:
        amount, missing = _amount(frame, name, amount_column)
        if missing.any():
            notes.append(
                f"{int(missing.sum()):,} cases have no amount in {amount_column!r}: they count as 0 in losses"
            )
    else:
        notes.append("no amount column: expected and realised losses are not computed")
    chosen = _attributes(contract, name, attributes, frame)
    groups = derive_protected(frame, chosen)
    human, reviewer, overridden = _human_columns(frame, name)
    return History(
        name=name,
        cases=frame,
        groups=groups,
        attributes=chosen,
        outcome=outcome,
        outcome_column=outcome_column,
        amount=amount,
        amount_missing=missing,
        amount_column=amount_column,
        currency=currency,
        minor_digits=minor_digits,
        human_outcome=human,
        reviewer=reviewer,
        overridden=overridden,
        product=product,
        dataset=dataset,
        notes=notes,
    )


def _bundled(dataset: str, rows: int | None, id_field: str) -> tuple[pd.DataFrame, str, str, str | None]:
    """(frame, name, outcome column, training data set name or None) of a bundled history."""
    if dataset == FRAUD_DATASET:
        from decision_review.datasets.fraud import HISTORY_SEED, generate_alerts

        n = FRAUD_HISTORY_ROWS if rows is None else rows
        alerts = generate_alerts(n, seed=HISTORY_SEED)
        # Another seed than training: these alerts are not the ones the model learnt from.
        return (
            alerts.history(),
            f"{FRAUD_DATASET} history (seed {HISTORY_SEED}, {n:,} alerts)",
            "is_fraud",
            None,
        )
    if dataset not in available_datasets():
        raise InvalidInput(f"no data set named {dataset!r}; available: {', '.join(available_datasets())}")
    loaded = load_dataset(dataset)
    frame = loaded.frame.copy()
    frame.insert(0, id_field, loaded.ids.to_numpy())
    frame[OUTCOME_COLUMN] = loaded.target.to_numpy()
    if rows is not None:
        frame = frame.iloc[:rows]
    return frame, dataset, OUTCOME_COLUMN, dataset


def _filter_product(
    frame: pd.DataFrame, name: str, product: str | None, notes: list[str]
) -> tuple[pd.DataFrame, str | None]:
    if product is None:
        if PRODUCT in frame.columns and frame[PRODUCT].nunique(dropna=True) > 1:
            notes.append(
                f"the history holds several product lines ({_values(frame[PRODUCT])}) and no product "
                "filter was given: every case is replayed"
            )
        return frame, None
    if PRODUCT not in frame.columns:
        raise InvalidInput(
            f"history {name}: cannot filter by product {product!r}: there is no {PRODUCT!r} column "
            f"(columns: {_columns(frame)})"
        )
    keep = (frame[PRODUCT].astype("string") == product).fillna(False).to_numpy(dtype=bool)
    if not keep.any():
        raise InvalidInput(
            f"history {name}: no case of product {product!r}; products present: {_values(frame[PRODUCT])}"
        )
    notes.append(f"product filter {product!r}: {int(keep.sum()):,} of {len(frame):,} cases kept")
    return frame[keep].reset_index(drop=True), product


def _outcome(frame: pd.DataFrame, name: str, column: str) -> np.ndarray:
    """1 bad, 0 good, NaN unknown."""
    if column not in frame.columns:
        raise InvalidInput(
            f"history {name}: no outcome column {column!r} (1 = bad outcome, 0 = good, empty = unknown); "
            f"name the right one with --outcome-column, or replay without outcomes (--no-outcomes). "
            f"Columns: {_columns(frame)}"
        )
    raw = frame[column]
    if ptypes.is_bool_dtype(raw) or (ptypes.is_numeric_dtype(raw) and not ptypes.is_bool_dtype(raw)):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        except OverflowError:  # a whole number beyond any float: not 0 or 1 either
            raise InvalidInput(
                f"history {name}: outcome column {column!r} holds a number too large for any float; "
                "it must be 1 (bad), 0 (good) or empty (unknown)"
            ) from None
        bad_text = raw.notna().to_numpy() & np.isnan(values)
        if bad_text.any():
            examples = sorted({str(v) for v in raw[bad_text].head(50)})[:5]
            raise InvalidInput(
                f"history {name}: outcome column {column!r} has values {examples}; "
                "it must be 1 (bad), 0 (good) or empty (unknown)"
            )
    outside = ~np.isnan(values) & (values != 0) & (values != 1)
    if outside.any():
        examples = sorted({float(v) for v in values[outside][:50]})[:5]
        raise InvalidInput(
            f"history {name}: outcome column {column!r} has values {examples}; "
            "it must be 1 (bad), 0 (good) or empty (unknown)"
        )
    return values


def _amount(frame: pd.DataFrame, name: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole, non-negative amounts as int64 (0 where missing) and the missing mask."""
    if column not in frame.columns:
        raise InvalidInput(f"history {name}: no amount column {column!r}; columns: {_columns(frame)}")
    raw = frame[column]
    if not ptypes.is_numeric_dtype(raw) or ptypes.is_bool_dtype(raw):
        raise InvalidInput(f"history {name}: amount column {column!r} must be numeric (whole units or cents)")
    values = raw.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values)
    present = values[~missing]
    if (present < 0).any() or (present != np.round(present)).any():
        raise InvalidInput(
            f"history {name}: amount column {column!r} must hold whole, non-negative numbers of the "
            "currency unit (integer minor units such as cents when --minor-digits is 2); money is never "
            "a fraction here"
        )
    if (present > MAX_WHOLE).any():
        raise InvalidInput(
            f"history {name}: amount column {column!r} holds amounts too large to count exactly "
            f"(above {int(MAX_WHOLE):,} units)"
        )
    return np.where(missing, 0, values).astype(np.int64), missing


def _attributes(
    contract: InputContract, name: str, wanted: Sequence[str] | None, frame: pd.DataFrame
) -> list[ProtectedAttribute]:
    declared = {a.name: a for a in contract.protected}
    if wanted is None:
        chosen = list(declared.values())
    else:
        unknown = [a for a in wanted if a not in declared]
        if unknown:
            raise InvalidInput(
                f"unknown protected attribute(s) {', '.join(map(repr, unknown))}; the model declares: "
                f"{', '.join(declared) or 'none'}"
            )
        chosen = [declared[a] for a in dict.fromkeys(wanted)]
    if not chosen:
        raise InvalidInput(
            "the model declares no protected attributes, so no fairness figures can be computed; "
            "add them to the model's contract"
        )
    absent = [a for a in chosen if a.source not in frame.columns]
    if absent:
        listed = ", ".join(f"{a.source!r} (for {a.name})" for a in absent)
        raise InvalidInput(
            f"history {name} lacks the source column(s) of protected attribute(s): {listed}; add them, or "
            "limit the report to the attributes present with --attributes"
        )
    return chosen


def _human_columns(
    frame: pd.DataFrame, name: str
) -> tuple[pd.Series | None, pd.Series | None, pd.Series | None]:
    human = reviewer = overridden = None
    if HUMAN_OUTCOME in frame.columns:
        values = frame[HUMAN_OUTCOME].astype("string").str.strip().str.lower()
        values = values.mask(values == "")
        outside = values.notna() & ~values.isin(HUMAN_OUTCOMES)
        if outside.any():
            raise InvalidInput(
                f"history {name}: column {HUMAN_OUTCOME!r} has values {_values(values[outside])}; a person's "
                f"decision is one of {', '.join(HUMAN_OUTCOMES)} (empty where nobody reviewed the case)"
            )
        human = values.astype(object).where(values.notna(), None)
    if REVIEWER in frame.columns:
        text = frame[REVIEWER].astype("string").str.strip()
        reviewer = text.mask(text == "").astype(object).where(text.notna() & (text != ""), None)
    if OVERRIDDEN in frame.columns:
        words = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
        text = frame[OVERRIDDEN].astype("string").str.strip().str.lower()
        outside = text.notna() & (text != "") & ~text.isin(list(words))
        if outside.any():
            raise InvalidInput(
                f"history {name}: column {OVERRIDDEN!r} has values {_values(text[outside])}; "
                "it must be true/false (empty = not recorded)"
            )
        overridden = text.map(words).astype(object).where(text.isin(list(words)), None)
    return human, reviewer, overridden


def _columns(frame: pd.DataFrame) -> str:
    names = list(map(str, frame.columns))
    return ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")


def _values(series: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in series.dropna().unique()[:20]})[:8])
