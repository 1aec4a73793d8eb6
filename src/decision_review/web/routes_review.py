"""The underwriter's pages: the queue (filters, paging, claim next) and the case page with its
forms (claim, release, decide, escalate, request information, override, four-eyes approval).

Thin adapters: each reads a form, calls one function of `review.service` in one transaction, and
redirects (post/redirect/get) with a one-time message; a refusal from the service re-renders the
case page with the message beside the form and the reviewer's entries kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from decision_review.api.deps import services_of
from decision_review.errors import Conflict, InvalidInput
from decision_review.products.service import control
from decision_review.review import service as review
from decision_review.review.repository import QueueFilter, list_items
from decision_review.store.repository import utc_now
from decision_review.store.tables import ReviewState
from decision_review.users.permissions import Permission
from decision_review.web import case_page, figures, products
from decision_review.web.auth import PageUser, form, page
from decision_review.web.case_page import outcome_labels
from decision_review.web.pages import PageRoute, redirect, render, svg, web_state

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
CLAIMABLE = (ReviewState.QUEUED.value, ReviewState.ESCALATED.value)
STATES = [s.value for s in ReviewState if s is not ReviewState.DECIDED]
Reader = Annotated[PageUser, Depends(page(Permission.READ_CASES))]
Worker = Annotated[PageUser, Depends(form(Permission.WORK_REVIEWS))]
Codes = Annotated[list[str] | None, Form()]
Text = Annotated[str, Form()]


def case_url(product: str, case_id: str) -> str:
    from urllib.parse import quote

    return f"/cases/{quote(product, safe='')}/{quote(case_id, safe='')}"


# ---------------------------------------------------------------------------------------------
# Queue


@router.get("/queue")
def queue_page(
    request: Request,
    user: Reader,
    product: str = "",
    queue: str = "",
    state: str = "",
    priority: str = "",
    sla: str = "",
    mine: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    services = services_of(request)
    now = utc_now()
    with services.db.read() as session:
        visible, chosen = products.choose(request, session, user, product or None)
        if chosen is None:
            return render(request, "queue.html", {"products": visible, "product": None}, user=user)
        live = services.catalog.live(session, chosen)
        queues = list(live.engine.policy.spec.queues)
        filters = QueueFilter(
            queue=queue if queue in queues else None,
            states=(state,) if state in STATES else None,
            max_priority=int(priority) if priority in {"1", "2", "3", "4", "5"} else None,
            claimed_by=user.name if mine else None,
            sla_breached={"breached": True, "on_time": False}.get(sla),
        )
        rows, total = list_items(
            session, chosen, filters, now=now, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE
        )
        switch = control(session, chosen)
    labels = outcome_labels(live.engine.policy)
    items = [_item(r, now) for r in rows]
    query = {
        k: v
        for k, v in {
            "product": chosen,
            "queue": filters.queue or "",
            "state": state if filters.states else "",
            "priority": priority if filters.max_priority else "",
            "sla": sla if sla in ("breached", "on_time") else "",
            "mine": "1" if mine else "",
        }.items()
        if v
    }
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        "queue.html",
        {
            "products": visible,
            "product": chosen,
            "items": items,
            "total": total,
            "page": page_number,
            "pages": pages,
            "first": (page_number - 1) * PAGE_SIZE + 1 if total else 0,
            "last": min(page_number * PAGE_SIZE, total),
            "prev_url": f"/queue?{urlencode({**query, 'page': page_number - 1})}"
            if page_number > 1
            else None,
            "next_url": f"/queue?{urlencode({**query, 'page': page_number + 1})}"
            if page_number < pages
            else None,
            "queues": queues,
            "states": STATES,
            "filters": {
                "queue": filters.queue or "",
                "state": state if filters.states else "",
                "priority": priority if filters.max_priority else "",
                "sla": sla,
                "mine": bool(mine),
            },
            "switch": switch,
            "labels": labels,
            "may_work": user.may(Permission.WORK_REVIEWS),
        },
        user=user,
    )


def _item(r: Any, now: dt.datetime) -> dict[str, Any]:
    claimed = r.effective_state == ReviewState.CLAIMED
    breached = r.sla_due_at is not None and r.sla_due_at < now
    return {
        "case_id": r.case_id,
        "url": case_url(r.product, r.case_id),
        "queue": r.queue,
        "priority": r.priority,
        "state": r.effective_state,
        "held_by": r.claimed_by if claimed else None,
        "age_seconds": (now - r.created_at).total_seconds(),
        "created_at": r.created_at,
        "sla_due_at": r.sla_due_at,
        "sla_breached": breached,
        "sla_left_seconds": (r.sla_due_at - now).total_seconds() if r.sla_due_at is not None else None,
        "winning_rule": r.winning_rule,
        "reason": r.reason,
    }


@router.post("/queue/claim-next")
def claim_next(request: Request, user: Worker, product: Text = "", queue: Text = "") -> Response:
    """Claim the most urgent open case (of a queue, if one is chosen); a case someone else wins in
    the same instant is skipped for the next one."""
    services = services_of(request)
    lease = dt.timedelta(minutes=services.settings.lease_minutes)
    with services.db.read() as session:
        _, chosen = products.choose(request, session, user, product or None)
    if chosen is None:
        return redirect(request, "/queue", "You have no product line to work on.", "error")
    back = f"/queue?{urlencode({'product': chosen, **({'queue': queue} if queue else {})})}"
    for _ in range(3):
        with services.db.read() as session:
            rows, _ = list_items(
                session,
                chosen,
                QueueFilter(queue=queue or None, states=CLAIMABLE),
                now=utc_now(),
                limit=10,
                offset=0,
            )
        if not rows:
            return redirect(request, back, "Nothing is waiting to be claimed here.", "info")
        for row in rows:
            try:
                with services.db.write() as session:
                    claim = review.claim(session, chosen, row.case_id, actor=user.name, lease=lease)
            except Conflict:
                continue
            until = claim.lease_expires_at.strftime("%H:%M UTC")
            return redirect(
                request, case_url(chosen, row.case_id), f"You claimed case {row.case_id} until {until}."
            )
    return redirect(
        request, back, "Every case was claimed by someone else at the same moment; try again.", "info"
    )


@router.get("/cases")
def find_case(request: Request, user: Reader, product: str = "", case_id: str = "") -> Response:
    """The search box: go straight to a case by its id."""
    services = services_of(request)
    case_id = case_id.strip()
    with services.db.read() as session:
        _, chosen = products.choose(request, session, user, product or None)
    if not case_id or chosen is None:
        return redirect(request, "/queue", "Type a case id to find a case.", "info")
    return redirect(request, case_url(chosen, case_id))


# ---------------------------------------------------------------------------------------------
# Case page


def case_response(
    request: Request,
    user: PageUser,
    product: str,
    case_id: str,
    *,
    error: str | None = None,
    form_name: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, _ = products.choose(request, session, user, product)
        live = services.catalog.live(session, product)
        context = case_page.build(session, services.catalog, live, user, case_id)
        cache = web_state(request).caches.setdefault("fairness", figures.TimedCache())
        report = cache.get(
            ("context", product),
            lambda: figures.fairness_of_recent(figures.recent_decisions(session, product), live.engine.model),
        )
    context.update(
        products=visible,
        fairness=figures.case_context(report, context["protected"]),
        fairness_window=figures.RECENT_CASES,
        band=svg(context["band_svg"]),
        waterfall=svg(context["waterfall_svg"]) if context["waterfall_svg"] else None,
        form_error=error,
        form_name=form_name,
        # a refusal is shown beside its form when that form is on the page, else at the top
        error_at_form=form_name in _forms_shown(context),
        lease_minutes=services.settings.lease_minutes,
        values=values or {},
    )
    return render(request, "case.html", context, status=status, user=user)


def _forms_shown(context: dict[str, Any]) -> set[str]:
    shown = set()
    if context["can_decide"]:
        shown |= {"decision", "escalation", "info"}
    if context["can_resolve"]:
        shown.add("approval")
    if context["overridable"]:
        shown.add("override")
    return shown


@router.get("/cases/{product}/{case_id}")
def case_view(request: Request, product: str, case_id: str, user: Reader) -> Response:
    return case_response(request, user, product, case_id)


def _act(
    request: Request,
    user: PageUser,
    product: str,
    case_id: str,
    form_name: str,
    values: dict[str, Any],
    action: Any,
) -> Response:
    """Run one workflow action in a transaction; a refusal re-renders the case page with why."""
    services = services_of(request)
    try:
        with services.db.write() as session:
            live = services.catalog.live(session, product)
            return action(session, live)
    except (InvalidInput, Conflict) as exc:
        return case_response(
            request,
            user,
            product,
            case_id,
            error=str(exc),
            form_name=form_name,
            values=values,
            status=409 if isinstance(exc, Conflict) else 422,
        )


@router.post("/cases/{product}/{case_id}/claim")
def claim(request: Request, product: str, case_id: str, user: Worker) -> Response:
    lease = dt.timedelta(minutes=services_of(request).settings.lease_minutes)

    def action(session: Any, live: Any) -> Response:
        result = review.claim(session, product, case_id, actor=user.name, lease=lease)
        until = result.lease_expires_at.strftime("%H:%M UTC")
        return redirect(request, case_url(product, case_id), f"You hold case {case_id} until {until}.")

    return _act(request, user, product, case_id, "claim", {}, action)


@router.post("/cases/{product}/{case_id}/release")
def release(request: Request, product: str, case_id: str, user: Worker) -> Response:
    def action(session: Any, live: Any) -> Response:
        review.release(session, product, case_id, actor=user.name)
        return redirect(request, f"/queue?product={product}", f"Case {case_id} is back in its queue.")

    return _act(request, user, product, case_id, "release", {}, action)


def _verdict_form(
    outcome: str, reason_codes: list[str] | None, adverse_action_reasons: list[str] | None, note: str
) -> dict[str, Any]:
    """A decision or override form's values, as given (shown again when the form is refused)."""
    return {
        "outcome": outcome,
        "reason_codes": reason_codes or [],
        "note": note,
        "adverse_action_reasons": adverse_action_reasons or [],
    }


def _verdict(
    apply: Callable[..., Any], session: Any, live: Any, case_id: str, user: Any, form: dict[str, Any]
) -> tuple[Any, str]:
    """Run `review.decide` or `review.override` with a verdict form; the result and the outcome in
    the policy's own words. Adverse-action reasons go with a decline only."""
    outcome = form["outcome"]
    result = apply(
        session,
        live,
        case_id,
        actor=user.name,
        outcome=outcome,
        reason_codes=form["reason_codes"],
        note=form["note"],
        adverse_action_reasons=form["adverse_action_reasons"] if outcome == "decline" else None,
    )
    return result, outcome_labels(live.engine.policy).get(result.outcome, result.outcome)


@router.post("/cases/{product}/{case_id}/decision")
def decide(
    request: Request,
    product: str,
    case_id: str,
    user: Worker,
    outcome: Text = "",
    reason_codes: Codes = None,
    adverse_action_reasons: Codes = None,
    note: Text = "",
) -> Response:
    values = _verdict_form(outcome, reason_codes, adverse_action_reasons, note)

    def action(session: Any, live: Any) -> Response:
        result, said = _verdict(review.decide, session, live, case_id, user, values)
        if result.status == "pending_approval":
            return redirect(
                request,
                case_url(product, case_id),
                f"Your decision ({said}) waits for a second reviewer: {result.why_four_eyes}.",
                "info",
            )
        return redirect(request, f"/queue?product={product}", f"Case {case_id} decided: {said}.")

    return _act(request, user, product, case_id, "decision", values, action)


@router.post("/cases/{product}/{case_id}/override")
def override(
    request: Request,
    product: str,
    case_id: str,
    user: Worker,
    outcome: Text = "",
    reason_codes: Codes = None,
    adverse_action_reasons: Codes = None,
    note: Text = "",
) -> Response:
    values = _verdict_form(outcome, reason_codes, adverse_action_reasons, note)

    def action(session: Any, live: Any) -> Response:
        result, said = _verdict(review.override, session, live, case_id, user, values)
        if result.status == "pending_approval":
            message = f"Your override ({said}) waits for a second reviewer: {result.why_four_eyes}."
            return redirect(request, case_url(product, case_id), message, "info")
        return redirect(request, case_url(product, case_id), f"Case {case_id} overridden: {said}.")

    return _act(request, user, product, case_id, "override", values, action)


@router.post("/cases/{product}/{case_id}/approval")
def approval(
    request: Request, product: str, case_id: str, user: Worker, grant: Text = "", note: Text = ""
) -> Response:
    values = {"grant": grant, "note": note}

    def action(session: Any, live: Any) -> Response:
        if grant not in ("yes", "no"):
            raise InvalidInput("choose whether to approve or refuse the waiting decision")
        result = review.resolve_approval(
            session, live, case_id, actor=user.name, grant=grant == "yes", note=note
        )
        said = outcome_labels(live.engine.policy).get(result.outcome, result.outcome)
        verb = "approved: it is now in force" if grant == "yes" else "refused: nothing changed"
        return redirect(request, case_url(product, case_id), f"The waiting decision ({said}) was {verb}.")

    return _act(request, user, product, case_id, "approval", values, action)


@router.post("/cases/{product}/{case_id}/escalation")
def escalate(
    request: Request,
    product: str,
    case_id: str,
    user: Worker,
    reason_codes: Codes = None,
    note: Text = "",
    queue: Text = "",
) -> Response:
    values = {"reason_codes": reason_codes or [], "note": note, "queue": queue}

    def action(session: Any, live: Any) -> Response:
        detail = review.escalate(
            session,
            live,
            case_id,
            actor=user.name,
            reason_codes=reason_codes or [],
            note=note,
            queue=queue or None,
        )
        message = f"Case {case_id} escalated to {detail['to_queue']} (priority {detail['priority']})."
        return redirect(request, f"/queue?product={product}", message)

    return _act(request, user, product, case_id, "escalation", values, action)


@router.post("/cases/{product}/{case_id}/info-request")
def request_info(
    request: Request,
    product: str,
    case_id: str,
    user: Worker,
    reason_codes: Codes = None,
    note: Text = "",
    requested: Text = "",
) -> Response:
    values = {"reason_codes": reason_codes or [], "note": note, "requested": requested}

    def action(session: Any, live: Any) -> Response:
        lines = [line.strip() for line in requested.splitlines() if line.strip()]
        review.request_info(
            session,
            live,
            case_id,
            actor=user.name,
            reason_codes=reason_codes or [],
            note=note,
            requested=lines,
        )
        return redirect(request, f"/queue?product={product}", f"Information requested for case {case_id}.")

    return _act(request, user, product, case_id, "info", values, action)
