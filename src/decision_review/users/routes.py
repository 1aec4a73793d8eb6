"""HTTP routes for users and tokens (admin), and `me` for everyone."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from decision_review.api.deps import CurrentUser, ServicesDep
from decision_review.users import service
from decision_review.users.auth import UserAdmin
from decision_review.users.permissions import Permission, allowed
from decision_review.users.schemas import MeOut, RevokedOut, TokenOut, UserIn, UserOut

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", response_model=MeOut, summary="Who you are and what you may do")
def me(principal: CurrentUser) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role.value,
        "products": list(principal.products),
        "permissions": [p.value for p in Permission if allowed(principal.role, p)],
    }


@router.get("/users", response_model=list[UserOut], summary="Users and their tokens (prefixes only)")
def list_users(principal: UserAdmin, services: ServicesDep) -> list[dict[str, Any]]:
    with services.db.read() as session:
        return [dataclasses.asdict(u) for u in service.list_users(session)]


@router.post(
    "/users", status_code=201, response_model=TokenOut, summary="Add a user; their token is shown once"
)
def add_user(body: UserIn, principal: UserAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.write() as session:
        issued = service.add_user(session, body.name, body.role, products=body.products, actor=principal.name)
    return dataclasses.asdict(issued)


@router.post("/users/{name}/tokens", status_code=201, response_model=TokenOut, summary="Issue another token")
def issue_token(name: str, principal: UserAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.write() as session:
        return dataclasses.asdict(service.issue_token(session, name, actor=principal.name))


@router.delete("/users/{name}/tokens/{prefix}", response_model=RevokedOut, summary="Revoke a token")
def revoke_token(name: str, prefix: str, principal: UserAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.write() as session:
        revoked = service.revoke_tokens(session, name, prefix=prefix, actor=principal.name)
    services.tokens.clear()
    return {"user": name, "revoked": revoked}


@router.post("/users/{name}/disable", response_model=RevokedOut, summary="Disable a user (all tokens stop)")
def disable_user(name: str, principal: UserAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.write() as session:
        service.disable_user(session, name, actor=principal.name)
    services.tokens.clear()
    return {"user": name, "revoked": []}
