"""Shapes of users and tokens."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from decision_review.schemas import Role


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role
    products: list[str] = Field(
        default_factory=list, max_length=100, description="Empty: every product line."
    )


class TokenOut(BaseModel):
    user: str
    token: str = Field(description="Shown once: store it now, it cannot be shown again.")
    prefix: str


class TokenInfoOut(BaseModel):
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class UserOut(BaseModel):
    name: str
    role: str
    products: list[str]
    disabled: bool
    created_at: dt.datetime
    tokens: list[TokenInfoOut]


class MeOut(BaseModel):
    name: str
    role: str
    products: list[str]
    permissions: list[str]


class RevokedOut(BaseModel):
    user: str
    revoked: list[str]
