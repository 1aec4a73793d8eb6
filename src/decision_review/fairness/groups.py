"""Protected groups and their intersections, as lookups from one combined code per case.

Why a combined code: each case gets one "fine" code for its combination of all protected
attributes. Cells are built on that code once per stage, and every attribute or pair of
attributes is then only a small lookup from fine code to group, so a stage's bootstrap
resample is shared by all its attributes and intersections.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from decision_review.fairness.inputs import UNKNOWN, Attribute

INTERSECTION_JOIN = " x "


@dataclass(frozen=True)
class Grouping:
    """One attribute, or the intersection of two, with every group it declares (empty ones too)."""

    name: str
    members: list[str]
    labels: list[str]
    parts: list[dict[str, str]]
    fine_to_group: np.ndarray  # (F,) group index of each fine combination
    unknown: np.ndarray  # (G,) bool: the group is, or contains, "unknown"
    total: np.ndarray  # (G,) cases in the whole frame


def combine(attributes: list[Attribute]) -> tuple[np.ndarray, np.ndarray]:
    """(fine code per case, attribute codes of each fine combination as an (F, A) array)."""
    fine = np.zeros(len(attributes[0].codes), dtype=np.int64)
    radix = 1
    for attribute in attributes:
        width = len(attribute.levels)
        if radix * width > 2**40:
            _, fine = np.unique(fine, return_inverse=True)
            radix = int(fine.max()) + 1
        fine = fine * width + attribute.codes
        radix *= width
    _, first, inverse = np.unique(fine, return_index=True, return_inverse=True)
    codes = np.stack([a.codes[first] for a in attributes], axis=1)
    return inverse.astype(np.int64), codes


def intersection_name(members: list[str]) -> str:
    return INTERSECTION_JOIN.join(members)


def build_groupings(
    attributes: list[Attribute], fine_codes: np.ndarray, fine_counts: np.ndarray, intersections: bool
) -> list[Grouping]:
    """Every attribute, then (optionally) every pair of attributes, in the groups frame's order."""
    out: list[Grouping] = []
    index = {a.name: i for i, a in enumerate(attributes)}
    for attribute in attributes:
        i = index[attribute.name]
        fine_to_group = fine_codes[:, i]
        out.append(
            Grouping(
                name=attribute.name,
                members=[attribute.name],
                labels=list(attribute.levels),
                parts=[{attribute.name: level} for level in attribute.levels],
                fine_to_group=fine_to_group,
                unknown=np.array([level == UNKNOWN for level in attribute.levels]),
                total=np.bincount(fine_to_group, weights=fine_counts, minlength=len(attribute.levels)).astype(
                    np.int64
                ),
            )
        )
    if intersections:
        for a, b in combinations(attributes, 2):
            width = len(b.levels)
            fine_to_group = fine_codes[:, index[a.name]] * width + fine_codes[:, index[b.name]]
            pairs = [(la, lb) for la in a.levels for lb in b.levels]
            out.append(
                Grouping(
                    name=intersection_name([a.name, b.name]),
                    members=[a.name, b.name],
                    labels=[f"{la}{INTERSECTION_JOIN}{lb}" for la, lb in pairs],
                    parts=[{a.name: la, b.name: lb} for la, lb in pairs],
                    fine_to_group=fine_to_group,
                    unknown=np.array([UNKNOWN in (la, lb) for la, lb in pairs]),
                    total=np.bincount(fine_to_group, weights=fine_counts, minlength=len(pairs)).astype(
                        np.int64
                    ),
                )
            )
    return out
