"""Check the caller's frames and encode them as small integer codes, once, vectorised.

Why a separate step: every metric and every bootstrap resample works on integer codes (group,
outcome, label), so strings are parsed exactly once; and every user mistake is caught here with
a message naming the column, before any figure is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from decision_review.errors import InvalidInput
from decision_review.schemas import Outcome

UNKNOWN = "unknown"
# Outcome codes; NOT_APPLIED marks a case the stage did not decide.
APPROVE, DECLINE, REVIEW, NOT_APPLIED = 0, 1, 2, 3
OUTCOME_VALUES = (Outcome.APPROVE.value, Outcome.DECLINE.value, Outcome.REVIEW.value)
# Label codes: label column 0 = good, 1 = bad, missing = unknown.
GOOD, BAD, UNLABELLED = 0, 1, 2
DEFAULT_STAGE_COLUMNS = {
    "model": "model_outcome",
    "auto": "auto_outcome",
    "human": "human_outcome",
    "final": "final_outcome",
}


@dataclass
class Attribute:
    """One protected attribute: its group names and each case's group code."""

    name: str
    levels: list[str]
    codes: np.ndarray


@dataclass
class Encoded:
    """The validated inputs as integer codes (one entry per case) plus disclosures found on the way."""

    n: int
    attributes: list[Attribute]
    stages: dict[str, tuple[str, np.ndarray]]  # stage -> (column, outcome codes)
    label: np.ndarray | None  # GOOD / BAD / UNLABELLED
    score: np.ndarray | None  # float, NaN = none
    reviewer_levels: list[str] | None = None
    reviewer: np.ndarray | None = None  # code, -1 = none
    override: np.ndarray | None = None  # 0 / 1, -1 = not recorded
    notes: list[str] = field(default_factory=list)


def _require_column(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    if column not in frame.columns:
        raise InvalidInput(
            f"{what} column {column!r} is not in the decisions frame "
            f"(columns: {', '.join(map(str, frame.columns))}); add it or pass the right column name"
        )
    return frame[column]


def _factorize(series: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Codes (-1 = missing) and the distinct values, in one hashing pass over the column."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes.astype(np.int64), list(uniques)


def _recode(codes: np.ndarray, targets: Sequence[int], missing: int) -> np.ndarray:
    """Map factorize codes to our codes through a small lookup table (last slot = missing)."""
    table = np.asarray([*targets, missing], dtype=np.int64)
    return table[np.where(codes < 0, len(targets), codes)]


def _examples(values: Sequence[object]) -> list[str]:
    return sorted(str(v) for v in values)[:5]


def encode_attributes(
    groups: pd.DataFrame, declared_groups: Mapping[str, Sequence[str]] | None
) -> tuple[list[Attribute], list[str]]:
    """Turn each protected column into codes; declared groups with no case are kept as levels."""
    if groups.shape[1] == 0:
        raise InvalidInput("the groups frame has no protected attribute columns; give at least one")
    if len(set(map(str, groups.columns))) != groups.shape[1]:
        raise InvalidInput("the groups frame has duplicate column names; give each attribute once")
    declared = dict(declared_groups or {})
    unknown_declared = set(declared) - {str(c) for c in groups.columns}
    if unknown_declared:
        raise InvalidInput(
            f"declared_groups names attribute(s) {sorted(unknown_declared)} that are not columns of the "
            f"groups frame ({', '.join(map(str, groups.columns))})"
        )
    notes: list[str] = []
    attributes: list[Attribute] = []
    for column in groups.columns:
        name = str(column)
        raw = groups[column]
        raw_codes, uniques = _factorize(raw)
        observed = [str(v) for v in uniques]
        missing = int((raw_codes < 0).sum())
        declared_here = [str(v) for v in declared.get(name, [])]
        if isinstance(raw.dtype, pd.CategoricalDtype):
            declared_here = [str(v) for v in raw.cat.categories] + declared_here
        levels = list(dict.fromkeys(declared_here))
        levels += sorted(set(observed) - set(levels) - {UNKNOWN})
        if missing or UNKNOWN in observed or UNKNOWN in levels:
            levels = [v for v in levels if v != UNKNOWN] + [UNKNOWN]
        position = {level: i for i, level in enumerate(levels)}
        codes = _recode(raw_codes, [position[v] for v in observed], position.get(UNKNOWN, -1))
        counts = np.bincount(codes, minlength=len(levels))
        if missing:
            notes.append(f"{name}: {missing} case(s) have no value; they are reported as group {UNKNOWN!r}")
        n_unknown = int(counts[position[UNKNOWN]]) if UNKNOWN in position else 0
        if n_unknown:
            notes.append(
                f"{name}: {n_unknown} of {len(raw)} case(s) ({n_unknown / len(raw):.1%}) are in group "
                f"{UNKNOWN!r}; it is shown but not used for the four-fifths verdict"
            )
        for level, count in zip(levels, counts, strict=True):
            if count == 0:
                notes.append(f"{name}: declared group {level!r} has no cases; it is listed with n = 0")
        known_with_cases = [lv for lv, c in zip(levels, counts, strict=True) if c > 0 and lv != UNKNOWN]
        if len(known_with_cases) < 2:
            notes.append(
                f"{name}: fewer than two known groups have cases, so no comparison between groups is possible"
            )
        attributes.append(Attribute(name=name, levels=levels, codes=codes))
    return attributes, notes


def encode_outcomes(series: pd.Series, column: str) -> np.ndarray:
    """approve/decline/review -> codes; missing -> NOT_APPLIED; anything else is an error."""
    raw_codes, uniques = _factorize(series)
    position = {value: code for code, value in enumerate(OUTCOME_VALUES)}
    outside = [v for v in uniques if str(v) not in position]
    if outside:
        hint = "use an empty value for a case the stage did not decide"
        if Outcome.ERROR.value in {str(v) for v in outside}:
            hint += f"; {Outcome.ERROR.value!r} cases were not decided, so set them empty or leave them out"
        raise InvalidInput(
            f"outcome column {column!r} has value(s) {_examples(outside)} "
            f"outside {list(OUTCOME_VALUES)} ({hint})"
        )
    return _recode(raw_codes, [position[str(v)] for v in uniques], NOT_APPLIED)


def encode_label(series: pd.Series, column: str) -> np.ndarray:
    """1 = bad, 0 = good, missing = unknown; anything else is an error."""
    raw_codes, uniques = _factorize(series)
    targets: list[int] = []
    for value in uniques:
        if isinstance(value, bool | np.bool_) or (
            isinstance(value, int | float | np.number) and value in (0, 1)
        ):
            targets.append(BAD if value == 1 else GOOD)
        else:
            raise InvalidInput(
                f"label column {column!r} has value(s) {_examples([v for v in uniques if v not in (0, 1)])}; "
                "it must be 1 (bad), 0 (good) or empty (unknown)"
            )
    return _recode(raw_codes, targets, UNLABELLED)


def encode_score(series: pd.Series, column: str) -> np.ndarray:
    if not (ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)):
        raise InvalidInput(f"score column {column!r} must be numeric (a calibrated P(bad) between 0 and 1)")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    outside = ~np.isnan(values) & ((values < 0) | (values > 1))
    if outside.any():
        raise InvalidInput(
            f"score column {column!r} has {int(outside.sum())} value(s) outside 0..1 "
            f"(e.g. {values[outside][0]}); it must be a calibrated probability of the bad outcome"
        )
    return values


def encode_override(series: pd.Series, column: str) -> np.ndarray:
    """True/False (or 1/0); missing = no override recorded for the case (-1)."""
    raw_codes, uniques = _factorize(series)
    words = {"true": 1, "1": 1, "1.0": 1, "false": 0, "0": 0, "0.0": 0}
    outside = [v for v in uniques if str(v).lower() not in words]
    if outside:
        raise InvalidInput(
            f"override column {column!r} has value(s) {_examples(outside)}; "
            "it must be true/false (empty = no override recorded)"
        )
    return _recode(raw_codes, [words[str(v).lower()] for v in uniques], -1)


def encode_reviewer(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """Reviewer names sorted, codes into them; -1 = no reviewer."""
    raw_codes, uniques = _factorize(series)
    names = [str(v) for v in uniques]
    levels = sorted(set(names))
    position = {name: i for i, name in enumerate(levels)}
    return levels, _recode(raw_codes, [position[v] for v in names], -1)


def resolve_stages(decisions: pd.DataFrame, stages: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's stages, or the conventional outcome columns that the frame has."""
    if stages is not None:
        if not stages:
            raise InvalidInput("stages is empty; name at least one stage and its outcome column")
        return dict(stages)
    found = {s: c for s, c in DEFAULT_STAGE_COLUMNS.items() if c in decisions.columns}
    if not found and "outcome" in decisions.columns:
        found = {"final": "outcome"}
    if not found:
        raise InvalidInput(
            "no stage outcome columns given and none of the default ones "
            f"({', '.join(DEFAULT_STAGE_COLUMNS.values())}, outcome) is in the decisions frame; pass stages="
        )
    return found


def encode(
    decisions: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    stages: Mapping[str, str] | None,
    label: str | None,
    score: str | None,
    reviewer: str | None,
    override: str | None,
    declared_groups: Mapping[str, Sequence[str]] | None,
) -> Encoded:
    if not isinstance(decisions, pd.DataFrame) or not isinstance(groups, pd.DataFrame):
        raise InvalidInput("decisions and groups must both be pandas DataFrames")
    if len(decisions) == 0:
        raise InvalidInput("the decisions frame has no cases; a fairness report needs at least one")
    if len(decisions) != len(groups):
        raise InvalidInput(
            f"decisions has {len(decisions)} rows but groups has {len(groups)}; give one groups row per case"
        )
    if not decisions.index.equals(groups.index):
        raise InvalidInput(
            "decisions and groups have different indexes; align them (same case order and index) first"
        )
    attributes, notes = encode_attributes(groups, declared_groups)
    stage_columns = resolve_stages(decisions, stages)
    encoded_stages = {
        name: (column, encode_outcomes(_require_column(decisions, column, f"stage {name!r} outcome"), column))
        for name, column in stage_columns.items()
    }
    out = Encoded(
        n=len(decisions), attributes=attributes, stages=encoded_stages, label=None, score=None, notes=notes
    )
    if label is not None:
        out.label = encode_label(_require_column(decisions, label, "label"), label)
        unknown = int((out.label == UNLABELLED).sum())
        if unknown:
            notes.append(
                f"label: {unknown} case(s) have no known outcome and are left out of TPR/FPR/calibration"
            )
    if score is not None:
        out.score = encode_score(_require_column(decisions, score, "score"), score)
        if label is None:
            notes.append(
                "score given without a label column: calibration needs known outcomes and is not computed"
            )
    if reviewer is not None:
        out.reviewer_levels, out.reviewer = encode_reviewer(_require_column(decisions, reviewer, "reviewer"))
    if override is not None:
        out.override = encode_override(_require_column(decisions, override, "override"), override)
    return out
