"""Shapes of webhooks and deliveries."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: str = Field(min_length=8, max_length=2000, description="http(s) URL that receives the JSON POST.")
    product: str | None = Field(
        default=None, description="Watch one product line (default: all you may see)."
    )
    queue: str | None = Field(default=None, description="Watch one queue of that product line.")
    on_sla_breach: bool = Field(default=True, description="Alert when a case passes its SLA.")
    depth_above: int | None = Field(
        default=None, ge=0, le=10_000_000, description="Alert when more cases are open."
    )


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    product: str | None
    queue: str | None
    on_sla_breach: bool
    depth_above: int | None
    enabled: bool
    created_by: str
    created_at: dt.datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Signs every delivery (X-DR-Signature: sha256=HMAC). Shown once.")


class DeliveryOut(BaseModel):
    webhook: str
    url: str
    alert_key: str
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None
