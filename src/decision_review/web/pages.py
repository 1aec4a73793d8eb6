"""Rendering pages: the template environment, the shared page context, security headers, and
turning every failure into a page a person can read (never a stack trace, never JSON).

`PageRoute` wraps each page route: a missing session goes to the sign-in page, a refusal to the 403
page, an unknown case to the 404 page, a user error (`DecisionReviewError`) to a page with its
message, and anything else to a 500 page with a reference to the log. Every response gets the same
headers: a Content-Security-Policy that allows only this site's own script and styles (no inline
script at all), no framing, and no referrer sent to other sites.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from decision_review import __version__
from decision_review.api.strict import refuse_nul
from decision_review.errors import Conflict, DecisionReviewError, NotFound
from decision_review.users.permissions import Permission
from decision_review.web import formats
from decision_review.web.auth import FormExpired, PageForbidden, PageUser, SignInRequired, optional_user
from decision_review.web.case_page import reason_use
from decision_review.web.session import FLASH_COOKIE, SESSION_COOKIE, Signer, SignInLimiter, cookie_options

log = logging.getLogger("decision_review.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

# Navigation: (label, path, permission), shown to the roles that have the permission.
NAVIGATION: list[tuple[str, str, Permission]] = [
    ("Overview", "/overview", Permission.READ_REPORTS),
    ("Queue", "/queue", Permission.READ_CASES),
    ("Audit log", "/compliance/audit", Permission.READ_AUDIT),
    ("Fairness", "/compliance/fairness", Permission.READ_REPORTS),
    ("Policies", "/risk/policies", Permission.CHECK_POLICIES),
    ("Backtests", "/risk/backtests", Permission.CHECK_POLICIES),
]


# Pages that show one product line at a time: switching product line stays on them.
LIST_PAGES = frozenset(path for _, path, _ in NAVIGATION)


class FormValues(dict):
    """What a person typed into a form, for showing it again; a field never typed reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass
class WebState:
    """What the pages share for the life of the app (kept on `app.state.web`)."""

    env: Environment
    signer: Signer
    # failed sign-ins: a name pauses after 5 in 15 minutes, an address (an office behind one
    # gateway) after 50
    names: SignInLimiter = field(default_factory=lambda: SignInLimiter(limit=5))
    addresses: SignInLimiter = field(default_factory=lambda: SignInLimiter(limit=50))
    caches: dict[str, Any] = field(default_factory=dict)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("decision_review.web", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(version=__version__, Permission=Permission)
    env.filters.update(formats.FILTERS, reason_use=reason_use)
    return env


def web_state(request: Request) -> WebState:
    return request.app.state.web


def set_flash(response: Response, request: Request, message: str, kind: str = "success") -> None:
    """A one-time message for the next page (signed, so nobody can put words in our mouth by URL)."""
    token = web_state(request).signer.sign(
        "flash", {"m": message[:500], "k": kind, "exp": int(dt.datetime.now(dt.UTC).timestamp()) + 120}
    )
    response.set_cookie(FLASH_COOKIE, token, **cookie_options(_secure(request), 120))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def redirect(
    request: Request, url: str, message: str | None = None, kind: str = "success"
) -> RedirectResponse:
    """303 See Other to `url` (after a POST), with an optional flash message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        set_flash(response, request, message, kind)
    return response


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    user: PageUser | None = None,
) -> HTMLResponse:
    """A page from `template` with the shared context (user, navigation, CSRF token, flash)."""
    state = web_state(request)
    user = user if user is not None else optional_user_quiet(request)
    flash = state.signer.unsign("flash", request.cookies.get(FLASH_COOKIE))
    navigation = (
        [(label, path) for label, path, permission in NAVIGATION if user.may(permission)] if user else []
    )
    base = {
        "request": request,
        "user": user,
        "csrf": user.csrf if user else "",
        "navigation": navigation,
        "path": request.url.path,
        "flash": flash,
        "products": [],
        "product": None,
        "blank": FormValues(),
        "switch_path": request.url.path
        if request.url.path in LIST_PAGES
        else (navigation[0][1] if navigation else "/"),
    }
    base.update(context or {})
    if isinstance(base.get("values"), dict):
        base["values"] = FormValues(base["values"])
    html = state.env.get_template(template).render(base)
    response = HTMLResponse(html, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def optional_user_quiet(request: Request) -> PageUser | None:
    """The signed-in person, or None (also when the database cannot be read: error pages must render)."""
    try:
        return optional_user(request)
    except Exception:  # an error page must never fail because the user lookup did
        return None


def error_page(
    request: Request, status: int, title: str, message: str, reference: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message, "reference": reference},
        status=status,
    )


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return sign_in_redirect(request)
    if isinstance(exc, PageForbidden):
        return error_page(request, 403, "Not for your role", f"You cannot open this page: {exc}.")
    if isinstance(exc, FormExpired):
        return error_page(
            request,
            403,
            "The form has expired",
            "The form was not sent from a current page of this site (or your session changed). "
            "Go back, reload the page and send it again.",
        )
    if isinstance(exc, NotFound):
        return error_page(request, 404, "Not found", str(exc))
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'value'}: {e.get('msg')}"
            for e in exc.errors()[:5]
        )
        return error_page(request, 400, "That address does not fit", f"Check the value(s): {problems}.")
    if isinstance(exc, StarletteHTTPException):
        return error_page(request, exc.status_code, "That cannot be shown", str(exc.detail))
    if isinstance(exc, Conflict):
        return error_page(request, 409, "That cannot be done now", str(exc))
    if isinstance(exc, DecisionReviewError):
        return error_page(request, 400, "That cannot be done", str(exc))
    reference = uuid.uuid4().hex[:12]
    log.exception(
        "internal error %s on page %s %s", reference, request.method, request.url.path, exc_info=exc
    )
    return error_page(
        request,
        500,
        "Something went wrong",
        "The page could not be produced; nothing was changed by this request. "
        "Tell your administrator the reference below.",
        reference,
    )


class PageRoute(APIRoute):
    """A page: failures become pages (see the module docstring) and every response gets the headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                await refuse_nul(request)
                response = await handler(request)
            except Exception as exc:  # every failure becomes a page; see _handle
                response = _handle(request, exc)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page_handler


def svg(markup: str) -> Markup:
    """Mark SVG made by `web.charts` (which escapes every text it draws) as safe to embed."""
    return Markup(markup)
