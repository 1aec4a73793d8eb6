"""Shapes of product lines, the stop switch and models."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="false: every new case goes to review until switched back on.")
    note: str = Field(min_length=1, max_length=2000, description="Why: recorded in the audit log.")


class ControlOut(BaseModel):
    product: str
    auto_decisions_enabled: bool
    changed_by: str | None
    changed_at: dt.datetime | None
    note: str | None


class ProductOut(BaseModel):
    product: str
    policy: dict[str, Any]
    model: dict[str, Any]
    control: ControlOut
    queues: dict[str, dict[str, Any]]
    contract: dict[str, Any] | None = Field(
        default=None, description="The fields a case carries (detail only)."
    )


class ModelOut(BaseModel):
    name: str
    versions: list[int]
