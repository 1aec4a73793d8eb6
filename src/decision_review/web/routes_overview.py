"""The overview: each product line side by side (volumes, automation, queue depth, SLA breaches,
overrides, score drift), then the chosen one in detail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from decision_review.api.deps import services_of
from decision_review.reports.service import metrics
from decision_review.store.repository import utc_now
from decision_review.users.permissions import Permission
from decision_review.web import charts, figures, products
from decision_review.web.auth import PageUser, page
from decision_review.web.case_page import outcome_labels
from decision_review.web.pages import PageRoute, render, svg, web_state

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Reader = Annotated[PageUser, Depends(page(Permission.READ_REPORTS))]


def product_drift(request: Request, session: Any, live: Any) -> figures.Drift:
    """Recent scores against the model's training reference (reference scored once per model)."""
    caches = web_state(request).caches
    model = live.engine.model
    reference = caches.setdefault("reference_scores", {})
    if model.digest not in reference:
        reference[model.digest] = figures.reference_scores(model)
    recent = caches.setdefault("recent_scores", figures.TimedCache())
    scores = recent.get(("scores", live.product), lambda: figures.recent_scores(session, live.product))
    return figures.drift(reference[model.digest], scores)


@router.get("/overview")
def overview(request: Request, user: Reader, product: str = "") -> Response:
    services = services_of(request)
    now = utc_now()
    with services.db.read() as session:
        visible, chosen = products.choose(request, session, user, product or None)
        figures_by_product = metrics(session, visible, now=now)
        lines = []
        for name in visible:
            live = services.catalog.live(session, name)
            summary = figures.overview_figures(figures_by_product[name])
            lines.append(
                {
                    "product": name,
                    "labels": outcome_labels(live.engine.policy),
                    "policy_version": live.policy_version,
                    "model": f"{live.engine.model.name} v{live.engine.model.version}",
                    "volumes": figures.volumes(session, name, now),
                    "metrics": figures_by_product[name],
                    "summary": summary,
                    "drift": product_drift(request, session, live),
                }
            )
    detail = next((line for line in lines if line["product"] == chosen), None)
    chart = None
    if detail is not None:
        drift = detail["drift"]
        chart = svg(
            charts.distribution(
                drift.bins,
                drift.reference,
                drift.recent,
                title=f"Score distribution of {chosen}: recent decisions against the training reference",
                desc=f"Share of cases per score bin (bins hold a tenth of the training reference each). "
                f"PSI {drift.psi:.3f}: {drift.reading}."
                if drift.psi is not None
                else "No recent scores.",
            )
        )
    return render(
        request,
        "overview.html",
        {
            "products": visible,
            "product": chosen,
            "lines": lines,
            "detail": detail,
            "drift_chart": chart,
            "window": figures.RECENT_CASES,
        },
        user=user,
    )
