"""Risk pages: published policy versions (which is live), a version's text, the diff of two
versions, backtests of a candidate policy against the live one (with the backtest's own HTML
report and its fairness table), and publishing a candidate with its gates.

Publishing goes through `policies.service.publish` (lint, golden cases, version checks, audit) with
the backtest's `PublishGate` (the gates run again on the reference history): a candidate that
breaks them is published only with a written justification (at least `MIN_JUSTIFICATION`
characters), which goes into the publication's note with the run it was based on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from decision_review.api.deps import services_of
from decision_review.backtest.gates import MIN_JUSTIFICATION, PublishGate
from decision_review.errors import Conflict, InvalidInput
from decision_review.policies import service as policies
from decision_review.users.permissions import Permission
from decision_review.web import backtests, products
from decision_review.web.auth import PageUser, form, page, refuse
from decision_review.web.case_page import outcome_labels
from decision_review.web.pages import PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Checker = Annotated[PageUser, Depends(page(Permission.CHECK_POLICIES))]
CheckerForm = Annotated[PageUser, Depends(form(Permission.CHECK_POLICIES))]
Publisher = Annotated[PageUser, Depends(form(Permission.PUBLISH_POLICIES))]
Text = Annotated[str, Form()]
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"
)


@router.get("/risk/policies")
def policies_page(request: Request, user: Checker, product: str = "") -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, chosen = products.choose(request, session, user, product or None)
        versions = policies.list_versions(session, chosen) if chosen else []
    return render(
        request,
        "risk/policies.html",
        {"products": visible, "product": chosen, "versions": versions},
        user=user,
    )


@router.get("/risk/policies/{product}/diff")
def diff_page(request: Request, product: str, user: Checker, a: str = "", b: str = "") -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, _ = products.choose(request, session, user, product)
        old = policies.get_version(session, product, a)
        new = policies.get_version(session, product, b)
    result = backtests.diff(old.yaml_text or "", new.yaml_text or "", f"version {a}", f"version {b}")
    return render(
        request,
        "risk/diff.html",
        {"products": visible, "product": product, "old": old, "new": new, "diff": result},
        user=user,
    )


@router.get("/risk/policies/{product}/{version}")
def version_page(request: Request, product: str, version: str, user: Checker) -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, _ = products.choose(request, session, user, product)
        shown = policies.get_version(session, product, version)
        versions = policies.list_versions(session, product)
    older = [v for v in versions if v.published_at < shown.published_at]
    return render(
        request,
        "risk/version.html",
        {"products": visible, "product": product, "version": shown, "previous": older[0] if older else None},
        user=user,
    )


# ---------------------------------------------------------------------------------------------
# Backtests


def _backtests_form(
    request: Request,
    user: PageUser,
    product: str | None,
    *,
    text: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    services = services_of(request)
    with services.db.read() as session:
        visible, chosen = products.choose(request, session, user, product or None)
        live = policies.live_version(session, chosen) if chosen else None
    runs = backtests.recent(services.settings.home, chosen) if chosen else []
    return render(
        request,
        "risk/backtests.html",
        {"products": visible, "product": chosen, "live": live, "runs": runs, "text": text, "error": error},
        user=user,
        status=status,
    )


@router.get("/risk/backtests")
def backtests_page(request: Request, user: Checker, product: str = "") -> Response:
    return _backtests_form(request, user, product)


@router.post("/risk/backtests")
def run_backtest(
    request: Request,
    user: CheckerForm,
    product: Text = "",
    policy_text: Text = "",
    sweep: Text = "",
    policy_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Replay the candidate over its reference history beside the live policy (takes seconds)."""
    services = services_of(request)
    text = policy_text
    if policy_file is not None and policy_file.filename:
        raw = policy_file.file.read(backtests.MAX_POLICY_BYTES + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _backtests_form(request, user, product, error="The file is not UTF-8 text.", status=422)
    try:
        with services.db.read() as session:
            _, chosen = products.choose(request, session, user, product or None)
            if chosen is None:
                raise InvalidInput("no product line is live for you")
            live = services.catalog.live(session, chosen)
        stored = backtests.run(
            text, live, services.registry, services.settings.home, actor=user.name, sweep=bool(sweep)
        )
    except InvalidInput as exc:
        return _backtests_form(request, user, product, text=text, error=str(exc), status=422)
    return redirect(request, f"/risk/backtests/{stored.id}", "The backtest has run.")


def _stored(request: Request, user: PageUser, run_id: str) -> backtests.StoredRun:
    stored = backtests.load(services_of(request).settings.home, run_id)
    product = stored.meta["product"]
    if not user.principal.can_see(product):
        raise refuse(request, user, f"user {user.name} is not allowed product line {product!r}", product)
    return stored


def _run_page(
    request: Request,
    user: PageUser,
    run_id: str,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    services = services_of(request)
    stored = _stored(request, user, run_id)
    product = stored.meta["product"]
    report = stored.report()
    gates = stored.gates()
    with services.db.read() as session:
        visible, _ = products.choose(request, session, user, product)
        live_version = policies.live_version(session, product)
        labels = outcome_labels(services.catalog.live(session, product).engine.policy)
    diff = backtests.diff(
        live_version.yaml_text or "",
        stored.candidate_text,
        f"live version {live_version.version}",
        "candidate",
    )
    candidate = report.candidate
    stage = next((s for s in candidate.fairness.stages if s.stage == "auto"), None)
    return render(
        request,
        "risk/backtest.html",
        {
            "products": visible,
            "product": product,
            "run": stored,
            "report": report,
            "gates": gates,
            "candidate": candidate,
            "baseline": report.baseline,
            "fairness_stage": stage,
            "labels": labels,
            "diff": diff,
            "live_version": live_version,
            "error": error,
            "values": values or {},
            "may_publish": user.may(Permission.PUBLISH_POLICIES),
            "min_justification": MIN_JUSTIFICATION,
        },
        user=user,
        status=status,
    )


@router.get("/risk/backtests/{run_id}")
def backtest_page(request: Request, run_id: str, user: Checker) -> Response:
    return _run_page(request, user, run_id)


@router.get("/risk/backtests/{run_id}/report")
def backtest_report(request: Request, run_id: str, user: Checker) -> Response:
    """The backtest's own printable HTML report (self-contained: inline styles and SVG, no script)."""
    stored = _stored(request, user, run_id)
    response = HTMLResponse(stored.html())
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


@router.post("/risk/backtests/{run_id}/publish")
def publish(
    request: Request, run_id: str, user: Publisher, note: Text = "", justification: Text = ""
) -> Response:
    services = services_of(request)
    stored = _stored(request, user, run_id)
    gates = stored.gates()
    values = {"note": note, "justification": justification}
    reason = justification.strip()
    if gates is not None and not gates.passed and len(reason) < MIN_JUSTIFICATION:
        message = (
            f"The candidate breaks its gates on {gates.history}; to publish it anyway, write a justification "
            f"of at least {MIN_JUSTIFICATION} characters (it is kept with the publication)."
        )
        return _run_page(request, user, run_id, error=message, values=values, status=422)
    if gates is None:
        evidence = "no gates declared"
    elif gates.passed:
        evidence = f"gates passed on {gates.history}"
    else:
        broken = ", ".join(f"{c.gate} ({c.subject})" for c in gates.breaks)
        evidence = f"gates broken ({broken}) on {gates.history}; published on the justification: {reason}"
    full_note = " | ".join(part for part in (note.strip(), f"backtest {run_id}: {evidence}") if part)
    # The gates are checked again as the policy is published (the backtest's seam, with this
    # request's justification), whatever the app was given: the run page is evidence, not authority.
    configured = services.publish_gates
    gate = (
        configured if isinstance(configured, PublishGate) else PublishGate(services.registry)
    ).with_justification(reason or None)
    try:
        with services.db.write() as session:
            version = policies.publish(
                session,
                stored.candidate_text,
                services.registry,
                actor=user.name,
                note=full_note,
                product=stored.meta["product"],
                gates=gate,
                source=f"policy published by {user.name} from backtest {run_id}",
            )
    except (InvalidInput, Conflict) as exc:
        return _run_page(request, user, run_id, error=str(exc), values=values, status=422)
    return redirect(
        request,
        f"/risk/policies?product={version.product}",
        f"Published {version.name} version {version.version}: it is live for {version.product} now.",
    )
