"""Cases for API tests: the bundled policies' golden cases, as a submitter sends them."""

from __future__ import annotations

from functools import cache
from typing import Any

from decision_review.policy import read_policy
from tests.fixtures.api import ROOT


@cache
def golden(product: str) -> dict[str, dict[str, Any]]:
    """Golden case id -> the case as JSON (case_id and every field)."""
    spec = read_policy(ROOT / "policies" / f"{product}.yaml").spec
    return {g.id: {"case_id": g.id, **g.case} for g in spec.golden_cases}


def case(product: str, golden_id: str, case_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A golden case under another id (and with some fields changed)."""
    out = dict(golden(product)[golden_id])
    out.update(changes)
    if case_id is not None:
        out["case_id"] = case_id
    return out
