"""Typed records shared by every layer: outcomes, roles, the model's input contract, reason codes.

Why here and not in each package: the engine, the store, the API and the pages must agree on
these shapes exactly; one definition keeps them from drifting apart.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Outcome(StrEnum):
    """What the engine decides for a case (fraud maps close/block/investigate onto these)."""

    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"
    ERROR = "error"


class Role(StrEnum):
    """Who a user is to the product; docs/api.md has the permission matrix.

    `intake` is the system (or person) that submits cases and records their later outcomes: a loan
    origination or card platform needs no more, so it gets no more (least privilege).
    """

    INTAKE = "intake"
    UNDERWRITER = "underwriter"
    COMPLIANCE = "compliance"
    RISK = "risk"
    ADMIN = "admin"


class FieldKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class FieldSpec(BaseModel):
    """One raw field a case carries, as the risk team knows it (before any encoding)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: FieldKind
    model_input: bool = Field(
        default=True,
        description="False for fields carried only for policy rules or monitoring (protected sources): "
        "they are validated and stored, never fed to the model.",
    )
    nullable: bool = Field(default=False, description="A missing value is acceptable (the model handles it).")
    integer: bool = Field(
        default=False, description="Numeric field whose training values were all whole numbers."
    )
    categories: list[str] | None = Field(default=None, description="Categorical: values seen in training.")
    minimum: float | None = Field(default=None, description="Numeric: smallest value seen in training.")
    maximum: float | None = Field(default=None, description="Numeric: largest value seen in training.")
    description: str = ""

    @model_validator(mode="after")
    def _kind_matches(self) -> Self:
        if self.kind is FieldKind.CATEGORICAL and not self.categories:
            raise ValueError(f"categorical field {self.name!r} needs its categories")
        if self.kind is FieldKind.NUMERIC and self.categories:
            raise ValueError(f"numeric field {self.name!r} cannot have categories")
        return self


class ProtectedAttribute(BaseModel):
    """A protected or monitoring attribute derived from one raw field, used for fairness only.

    Exactly one derivation: `mapping` (categorical source value -> group), `bins` with `labels`
    (numeric source, right-open intervals ``[bins[i], bins[i+1])``), or neither (the value itself).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str
    mapping: dict[str, str] | None = None
    bins: list[float] | None = None
    labels: list[str] | None = None
    reference_group: str | None = Field(
        default=None, description="Group the adverse impact ratio compares with."
    )

    @model_validator(mode="after")
    def _one_derivation(self) -> Self:
        if self.mapping is not None and self.bins is not None:
            raise ValueError(f"protected attribute {self.name!r}: give mapping or bins, not both")
        if self.bins is not None and (self.labels is None or len(self.labels) != len(self.bins) - 1):
            raise ValueError(f"protected attribute {self.name!r}: needs one label per bin interval")
        return self


class InputContract(BaseModel):
    """What a case must look like for a model: its fields, their types and observed ranges.

    Policies are checked against it when they load; the engine validates every case against it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_field: str = "case_id"
    fields: list[FieldSpec]
    protected: list[ProtectedAttribute] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique")
        clash = set(names) & set(ENGINE_FIELDS)
        if clash:
            raise ValueError(f"field names clash with engine-provided fields: {sorted(clash)}")
        for p in self.protected:
            if p.source not in names:
                raise ValueError(f"protected attribute {p.name!r} derives from unknown field {p.source!r}")
            if self.field(p.source).model_input:
                raise ValueError(
                    f"protected attribute {p.name!r}: its source {p.source!r} must not be a model input"
                )
        return self

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @cached_property
    def field_set(self) -> frozenset[str]:
        """The field names as a set (membership tests per submitted key, made once)."""
        return frozenset(f.name for f in self.fields)

    @property
    def model_inputs(self) -> list[str]:
        return [f.name for f in self.fields if f.model_input]

    @property
    def protected_sources(self) -> list[str]:
        return [p.source for p in self.protected]


# Columns the engine adds to every case before the policy runs; conditions may name them.
# name -> (type, meaning). Documented in docs/policy-language.md.
ENGINE_FIELDS: dict[str, tuple[str, str]] = {
    "score": ("float", "calibrated probability of the bad outcome, 0..1"),
    "out_of_range": ("bool", "a numeric input lies outside the range the model saw in training"),
    "unseen_category": ("bool", "a categorical input has a value the model never saw in training"),
    "missing_count": ("int", "number of model inputs with no value"),
}


class ReasonCode(BaseModel):
    """One plain-language reason behind a score, as an adverse-action notice can quote it."""

    model_config = ConfigDict(extra="forbid")

    field: str
    code: str
    text: str
    contribution: float = Field(
        description="SHAP contribution in calibrated log-odds (positive = towards bad)."
    )
