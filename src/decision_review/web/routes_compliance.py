"""Compliance pages: audit search with the chain's verification status, verify, export (a zip
download), the fairness report on stored decisions, and the adverse-action notice of a declined case.

Search, verify and export call `audit.service` (each verification and export is recorded in the
log by it); a user limited to product lines searches and exports only theirs, as in the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from decision_review.api.deps import services_of
from decision_review.audit import service as audit
from decision_review.audit.chain import EventKind
from decision_review.audit.export import ExportFormat
from decision_review.audit.log import read_head
from decision_review.cases import repository as cases_repository
from decision_review.errors import DecisionReviewError, InvalidInput, NotFound
from decision_review.products.service import live_products
from decision_review.store.repository import utc_now
from decision_review.users.permissions import Permission
from decision_review.web import charts, figures, products, wording
from decision_review.web.auth import PageUser, form, page, refuse
from decision_review.web.case_page import history_line, outcome_labels, reason_use
from decision_review.web.pages import PageRoute, redirect, render, svg, web_state
from decision_review.web.routes_review import case_url

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_EVENTS = 100
MAX_NOTICE_REASONS = 4  # the principal reasons a notice states
AuditReader = Annotated[PageUser, Depends(page(Permission.READ_AUDIT))]
Verifier = Annotated[PageUser, Depends(form(Permission.VERIFY_AUDIT))]
Exporter = Annotated[PageUser, Depends(form(Permission.EXPORT_AUDIT))]
ReportReader = Annotated[PageUser, Depends(page(Permission.READ_REPORTS))]
Text = Annotated[str, Form()]


def audit_product(request: Request, user: PageUser, product: str) -> str | None:
    """The product filter: any (None) for an unrestricted user; one of theirs for a limited one."""
    limited = user.principal.products
    if not product:
        return limited[0] if limited else None
    if limited and product not in limited:
        raise refuse(request, user, f"user {user.name} is not allowed product line {product!r}", product)
    return product


def _last_verification(session: Any) -> dict[str, Any] | None:
    last, cursor = None, 0
    while True:
        batch = audit.search(
            session, kind=EventKind.VERIFICATION_RUN.value, after_seq=cursor, limit=audit.MAX_SEARCH
        )
        if not batch:
            return last
        last, cursor = batch[-1], batch[-1]["seq"]
        if len(batch) < audit.MAX_SEARCH:
            return last


@router.get("/compliance/audit")
def audit_page(
    request: Request,
    user: AuditReader,
    product: str = "",
    case_id: str = "",
    actor: str = "",
    kind: str = "",
    since: str = "",
    until: str = "",
    after: Annotated[int, Query(ge=0, le=audit.MAX_SEQ)] = 0,
) -> Response:
    services = services_of(request)
    error = None
    chosen = audit_product(request, user, product)
    filters = {
        "product": chosen,
        "case_id": case_id.strip() or None,
        "kind": kind or None,
        "actor": actor.strip() or None,
        "since": since or None,
        "until": until or None,
    }
    with services.db.read() as session:
        visible = user.principal.visible(live_products(session))
        try:
            events = audit.search(session, **filters, after_seq=after, limit=PAGE_EVENTS)
            next_after = audit.next_after(events, PAGE_EVENTS)
        except (InvalidInput, NotFound) as exc:  # said on the page, beside the filters
            events, next_after, error = [], None, str(exc)
        head = read_head(session)
        verification = _last_verification(session)
        labels_by_product = {
            p: outcome_labels(services.catalog.live(session, p).engine.policy) for p in visible
        }
    rows = []
    for event in events:
        labels = labels_by_product.get(event["product"] or "", {})
        rows.append(
            {
                "event": event,
                "line": history_line(event, labels) if event["case_id"] else _summary(event),
                "url": case_url(event["product"], event["case_id"])
                if event["case_id"] and event["product"] in visible and user.may(Permission.READ_CASES)
                else None,
            }
        )
    query = {
        "product": product,
        "case_id": case_id,
        "actor": actor,
        "kind": kind,
        "since": since,
        "until": until,
    }
    query = {k: v for k, v in query.items() if v}
    return render(
        request,
        "compliance/audit.html",
        {
            "products": visible,
            "product": chosen,
            "rows": rows,
            "error": error,
            "filters": {
                "product": product,
                "case_id": case_id,
                "actor": actor,
                "kind": kind,
                "since": since,
                "until": until,
            },
            "kinds": [k.value for k in EventKind],
            "next_url": f"/compliance/audit?{urlencode({**query, 'after': next_after})}"
            if next_after
            else None,
            "first_url": f"/compliance/audit?{urlencode(query)}" if after else None,
            "head": head,
            "verification": verification,
            "may_verify": user.may(Permission.VERIFY_AUDIT),
            "may_export": user.may(Permission.EXPORT_AUDIT),
            "limited": bool(user.principal.products),
        },
        user=user,
    )


def _summary(event: dict[str, Any]) -> str:
    """A line for an event that is not about one case (users, policies, exports, verification...)."""
    p = event["payload"] or {}
    kind = event["kind"]
    if kind == "verification_run":
        return (
            "Chain verified: OK." if p.get("ok") else f"Chain verification found a break: {p.get('broken')}."
        )
    if kind == "export_made":
        return f"Export of {p.get('count', '?')} events ({p.get('format', '')})."
    if kind == "policy_published":
        return f"Policy {event.get('policy_ref')} published ({p.get('note') or 'no note'})."
    if kind in ("auth_failed", "access_denied"):
        return f"{kind.replace('_', ' ').capitalize()}: {p.get('reason')}."
    if kind in ("user_added", "user_disabled", "token_issued", "token_revoked"):
        return f"{kind.replace('_', ' ').capitalize()}: {p.get('user')}."
    return kind.replace("_", " ").capitalize() + "."


@router.post("/compliance/audit/verify")
def verify(request: Request, user: Verifier) -> Response:
    services = services_of(request)
    report = audit.verify_chain(services.db.engine, services.db.write, user.name)
    if report.ok:
        message = (
            f"The chain holds: {report.count:,} events verified; head seq {report.head_seq}, "
            f"hash {report.head_hash[:16]}…"
        )
        return redirect(request, "/compliance/audit", message)
    return redirect(request, "/compliance/audit", f"The chain is BROKEN: {report.summary()}", "error")


@router.post("/compliance/audit/export")
def export(
    request: Request,
    user: Exporter,
    start: Text = "",
    end: Text = "",
    product: Text = "",
    case_id: Text = "",
    kind: Text = "",
    format: Text = "jsonl",
) -> Response:
    services = services_of(request)
    chosen = audit_product(request, user, product)
    if format not in {f.value for f in ExportFormat}:
        return redirect(request, "/compliance/audit", "Choose JSON lines, CSV or Parquet.", "error")
    try:
        data, manifest, name = audit.export_zip(
            services.db.engine,
            services.db.write,
            services.settings.exports_dir,
            actor=user.name,
            start=start or None,
            end=end or None,
            product=chosen,
            case_id=case_id.strip() or None,
            kind=kind or None,
            fmt=format,
        )
    except DecisionReviewError as exc:
        return redirect(request, "/compliance/audit", f"The export was not made: {exc}", "error")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.zip"',
        "X-DR-Export-Count": str(manifest["count"]),
        "X-DR-Export-Last-Hash": str(manifest["last_hash"]),
    }
    return Response(data, media_type="application/zip", headers=headers)


# ---------------------------------------------------------------------------------------------
# Fairness report


@router.get("/compliance/fairness")
def fairness_page(request: Request, user: ReportReader, product: str = "") -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, chosen = products.choose(request, session, user, product or None)
        report = None
        labels: dict[str, str] = {}
        if chosen is not None:
            live = services.catalog.live(session, chosen)
            labels = outcome_labels(live.engine.policy)
            cache = web_state(request).caches.setdefault("fairness", figures.TimedCache())
            report = cache.get(
                ("report", chosen),
                lambda: figures.fairness_of_recent(
                    figures.recent_decisions(session, chosen), live.engine.model, human=True, n_bootstrap=200
                ),
            )
    stages = []
    approve = labels.get("approve", "approve").capitalize()
    for stage in report.stages if report else []:
        attributes = []
        for attribute in stage.attributes:
            rows = [
                charts.GroupRate(
                    g.group, g.selection_rate.value, g.n, g.reference, g.small, g.passes_four_fifths is False
                )
                for g in attribute.groups
            ]
            chart = charts.group_rates(
                rows,
                threshold=report.air_threshold,
                title=f"{approve} rate by {attribute.attribute}, {stage.stage} decisions",
                what=f"{approve} rate",
            )
            attributes.append({"report": attribute, "chart": svg(chart)})
        stages.append({"report": stage, "attributes": attributes})
    return render(
        request,
        "compliance/fairness.html",
        {
            "products": visible,
            "product": chosen,
            "report": report,
            "stages": stages,
            "labels": labels,
            "window": figures.RECENT_CASES,
        },
        user=user,
    )


# ---------------------------------------------------------------------------------------------
# Adverse-action notice


def notice_reasons(decision: Any, rules: list[dict[str, Any]]) -> list[str]:
    """The principal reasons of a decline in plain language: the adverse-action reasons a reviewer
    recorded, or, for an automatic decline, the declining rule's reason and the model's reasons
    that pushed the score towards decline (largest first)."""
    reasons = decision.get("reasons") or []
    chosen = [r["text"] for r in reasons if reason_use(r) == "adverse_action"]
    if not chosen and decision.get("kind") == "auto":
        chosen = [
            r["reason"]
            for r in rules
            if r.get("winning") and r.get("action") == "decline" and r.get("reason")
        ]
        model = sorted(
            (r for r in reasons if (r.get("contribution") or 0) > 0),
            key=lambda r: r["contribution"],
            reverse=True,
        )
        chosen += [r["text"] for r in model]
    return list(dict.fromkeys(chosen))[:MAX_NOTICE_REASONS]


@router.get("/compliance/notices/{product}/{case_id}")
def notice(request: Request, product: str, case_id: str, user: AuditReader) -> Response:
    from decision_review.cases.detail import case_detail

    services = services_of(request)
    words = wording.wording(product)
    with services.db.read() as session:
        visible, _ = products.choose(request, session, user, product)
        live = services.catalog.live(session, product)
        cases_repository.case_row(session, product, case_id)  # 404 for an unknown case
        detail = case_detail(session, services.catalog, live, case_id, include_protected=False)
    labels = outcome_labels(live.engine.policy)
    current = detail["decisions"][-1] if detail["decisions"] else None
    context: dict[str, Any] = {
        "products": visible,
        "product": product,
        "case_id": case_id,
        "labels": labels,
        "words": words,
        "current": current,
        "lender": services.settings.lender_name,
        "today": utc_now().date(),
        "case_url": case_url(product, case_id),
    }
    if not words.adverse_action_notices:
        return render(request, "compliance/notice.html", {**context, "applies": False}, user=user)
    if current is None or current["outcome"] != "decline":
        said = labels.get(current["outcome"], current["outcome"]) if current else "not decided"
        return render(
            request,
            "compliance/notice.html",
            {**context, "applies": True, "declined": False, "said": said},
            user=user,
            status=409,
        )
    decided_on = current["decided_at"].date() if isinstance(current["decided_at"], dt.datetime) else None
    return render(
        request,
        "compliance/notice.html",
        {
            **context,
            "applies": True,
            "declined": True,
            "reasons": notice_reasons(current, detail["rules"]),
            "decided_on": decided_on,
        },
        user=user,
    )
