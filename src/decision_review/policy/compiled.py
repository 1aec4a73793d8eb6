"""A policy ready to decide: the validated spec, its checked conditions and its content digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from decision_review.policy.conditions import CompiledCondition
from decision_review.policy.evaluate import DecisionTable, evaluate
from decision_review.policy.spec import GoldenCase, PolicySpec
from decision_review.schemas import InputContract


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """What `load_policy` returns. Immutable; `evaluate` may be called from many threads.

    >>> policy = load_policy("policies/german_credit.yaml", contract)  # doctest: +SKIP
    >>> policy.evaluate(cases).select("case_id", "outcome", "winning_rule")  # doctest: +SKIP
    """

    spec: PolicySpec
    digest: str
    source: str
    contract: InputContract
    conditions: tuple[CompiledCondition, ...]
    table: DecisionTable
    golden_cases: tuple[GoldenCase, ...]
    warnings: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def product(self) -> str:
        return str(self.spec.product)

    @property
    def model_name(self) -> str:
        return self.spec.model.name

    @property
    def model_version(self) -> int:
        return self.spec.model.version

    @property
    def approve_below(self) -> float:
        return self.spec.thresholds.approve_below

    @property
    def decline_at_or_above(self) -> float:
        return self.spec.thresholds.decline_at_or_above

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return self.table.rule_ids

    @property
    def input_columns(self) -> dict[str, pl.DataType]:
        """Columns (with types) `evaluate` reads: the id, score and every column a condition names."""
        return dict(self.table.input_schema)

    def provenance(self) -> dict[str, Any]:
        """What every decision made by this policy should record beside its outcome."""
        return {
            "policy_name": self.name,
            "policy_version": self.version,
            "policy_digest": self.digest,
            "product": self.product,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "approve_below": self.approve_below,
            "decline_at_or_above": self.decline_at_or_above,
        }

    def evaluate(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Decide every case of `frame` (see `decision_review.policy.evaluate.evaluate`)."""
        return evaluate(self.table, frame)
