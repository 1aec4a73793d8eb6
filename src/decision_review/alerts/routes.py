"""HTTP routes for alert webhooks (admin and risk)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from decision_review.alerts import service
from decision_review.alerts.schemas import DeliveryOut, WebhookCreatedOut, WebhookIn, WebhookOut
from decision_review.api.deps import ServicesDep, permit
from decision_review.api.errors import Forbidden
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

router = APIRouter(prefix="/api/v1", tags=["alerts"])
HookAdmin = Annotated[Principal, Depends(permit(Permission.MANAGE_WEBHOOKS))]


def _may_watch(principal: Principal, product: str | None) -> None:
    if principal.products and (product is None or product not in principal.products):
        raise Forbidden(
            f"forbidden: user {principal.name} is limited to {', '.join(principal.products)}; "
            "a webhook must name one of those product lines"
        )


@router.get("/webhooks", response_model=list[WebhookOut], summary="Alert webhooks")
def list_webhooks(principal: HookAdmin, services: ServicesDep) -> list[dict[str, Any]]:
    with services.db.read() as session:
        return service.list_webhooks(session, principal.products)


@router.post(
    "/webhooks", status_code=201, response_model=WebhookCreatedOut, summary="Add a webhook (audited)"
)
def create_webhook(body: WebhookIn, principal: HookAdmin, services: ServicesDep) -> dict[str, Any]:
    _may_watch(principal, body.product)
    with services.db.write() as session:
        return service.create_webhook(session, actor=principal.name, **body.model_dump())


@router.delete("/webhooks/{name}", status_code=204, summary="Remove a webhook (audited)")
def delete_webhook(name: str, principal: HookAdmin, services: ServicesDep) -> None:
    with services.db.write() as session:
        _may_watch(principal, service.get_webhook(session, name).product)
        service.delete_webhook(session, name, actor=principal.name)


@router.post("/webhooks/{name}/test", response_model=DeliveryOut, summary="Send a test message now")
def test_webhook(name: str, principal: HookAdmin, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        hook = service.get_webhook(session, name)
    _may_watch(principal, hook.product)
    return dataclasses.asdict(services.alerts.test(hook))


@router.post("/alerts/check", response_model=list[DeliveryOut], summary="Check alert conditions now")
def check_now(principal: HookAdmin, services: ServicesDep) -> list[dict[str, Any]]:
    """The server checks by itself every DR_ALERT_CHECK_SECONDS; this runs a check at once."""
    return [dataclasses.asdict(d) for d in services.alerts.check_once()]
