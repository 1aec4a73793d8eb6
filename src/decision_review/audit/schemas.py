"""Shapes of audit search results, verification reports and export requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EventOut(BaseModel):
    seq: int
    ts: str
    actor: str
    kind: str
    product: str | None
    case_id: str | None
    policy_ref: str | None
    model_ref: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class EventsOut(BaseModel):
    events: list[EventOut]
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page; null at the end.")


class VerifyOut(BaseModel):
    ok: bool
    count: int
    head_seq: int
    head_hash: str
    broken: dict[str, Any] | None
    seconds: float
    summary: str


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str | None = Field(
        default=None, alias="from", description="First day (2024-05-01) or UTC time included."
    )
    end: str | None = Field(default=None, alias="to", description="Last day included, or a time excluded.")
    product: str | None = None
    case_id: str | None = None
    kind: str | None = None
    format: Literal["jsonl", "csv", "parquet"] = "jsonl"
