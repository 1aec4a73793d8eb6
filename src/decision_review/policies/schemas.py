"""Shapes of policy versions, lint and test reports, and publish requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from decision_review.policy.loader import MAX_POLICY_BYTES


class PolicyTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=MAX_POLICY_BYTES, description="The policy file's text (YAML).")


class PublishIn(PolicyTextIn):
    note: str | None = Field(
        default=None, max_length=2000, description="Why this version: kept with it and audited."
    )
    justification: str | None = Field(
        default=None,
        max_length=2000,
        description="Why to publish although a fairness or performance gate breaks (audited); "
        "without one, a policy that breaks a gate is refused.",
    )


class PolicyVersionOut(BaseModel):
    product: str
    name: str
    version: str
    digest: str
    published_by: str
    published_at: dt.datetime
    live: bool
    note: str | None
    yaml_text: str | None = None


class GoldenOut(BaseModel):
    id: str
    passed: bool
    problems: list[str]


class CheckOut(BaseModel):
    ok: bool
    problems: list[dict[str, Any]]
    warnings: list[str]
    summary: dict[str, Any]
    golden: list[GoldenOut]
