"""Golden cases: turn them into cases for the engine and compare its decisions with the expectations.

Why here and not in the CLI: ``decision-review policy test``, the API and the notebooks all run
golden cases; what counts as a pass (outcome, and the winning rule and rule hits where given) is
part of the policy language and documented with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from decision_review.policy.compiled import CompiledPolicy


@dataclass(frozen=True)
class GoldenResult:
    """One golden case's verdict: `problems` is empty when the decision matched every expectation."""

    id: str
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def golden_records(policy: CompiledPolicy) -> list[dict[str, Any]]:
    """The golden cases as raw case records, the golden id as the case id (so the QA sample is fixed)."""
    id_field = policy.contract.id_field
    return [{id_field: golden.id, **golden.case} for golden in policy.golden_cases]


def check_golden(policy: CompiledPolicy, decisions: pl.DataFrame) -> list[GoldenResult]:
    """Compare decisions (one row per golden case: id, outcome, winning_rule, rule_hits) with expectations.

    A golden case missing from `decisions` fails with a message saying so (for example when its
    data failed validation and the engine recorded an error instead of a decision).
    """
    id_field = policy.contract.id_field
    by_id = {row[id_field]: row for row in decisions.iter_rows(named=True)}
    results = []
    for golden in policy.golden_cases:
        got = by_id.get(golden.id)
        if got is None:
            results.append(GoldenResult(golden.id, ("no decision was made for this case",)))
            continue
        expected = golden.expected
        problems = []
        if got.get("outcome") != expected.outcome:
            problems.append(f"outcome {got.get('outcome')!r}, expected {expected.outcome!r}")
        if expected.winning_rule is not None and got.get("winning_rule") != expected.winning_rule:
            problems.append(f"winning rule {got.get('winning_rule')!r}, expected {expected.winning_rule!r}")
        if expected.rule_hits is not None and list(got.get("rule_hits") or []) != expected.rule_hits:
            problems.append(f"rule hits {got.get('rule_hits')}, expected {expected.rule_hits}")
        results.append(GoldenResult(golden.id, tuple(problems)))
    return results
