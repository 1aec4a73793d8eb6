"""HTTP routes for metrics: JSON for people and pages, Prometheus text for monitoring."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from decision_review.api.deps import ServicesDep, permit
from decision_review.products.service import live_products
from decision_review.reports import service
from decision_review.store.repository import utc_now
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

router = APIRouter(tags=["reports"])
ReportReader = Annotated[Principal, Depends(permit(Permission.READ_REPORTS))]


def _figures(principal: Principal, services: Any) -> dict[str, Any]:
    with services.db.read() as session:
        products = principal.visible(live_products(session))
        return service.metrics(session, products, now=utc_now())


@router.get("/api/v1/reports/metrics", summary="Operational metrics per product line (JSON)")
def metrics_json(principal: ReportReader, services: ServicesDep) -> dict[str, Any]:
    """Queue depth by queue and state, SLA breaches, decisions by kind and outcome, review latency
    (p50/p90/mean seconds), override rate, pending four-eyes approvals, stop switch state."""
    return {"products": _figures(principal, services)}


@router.get("/metrics", response_class=PlainTextResponse, summary="The same metrics for Prometheus")
def metrics_prometheus(principal: ReportReader, services: ServicesDep) -> str:
    """Prometheus text format; scrape it with a bearer token (`authorization` in the scrape config)."""
    return service.prometheus_text(_figures(principal, services))
