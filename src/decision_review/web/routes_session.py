"""Signing in and out, and the landing page each role starts from."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from decision_review.api.deps import services_of
from decision_review.audit.chain import EventKind
from decision_review.schemas import Role
from decision_review.users.permissions import Permission, allowed
from decision_review.users.service import authenticate_password
from decision_review.web.auth import optional_user, session_of
from decision_review.web.pages import PageRoute, redirect, render, web_state
from decision_review.web.session import (
    SESSION_COOKIE,
    SESSION_HOURS,
    SIGNIN_COOKIE,
    SIGNIN_FORM_MINUTES,
    PageSession,
    cookie_options,
    csrf_matches,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

REFUSED = "The name or password is not right, or sign-ins for this name are paused after repeated failures."
MAX_NAME = 200


def safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a full URL): no open redirect after sign-in.
    Control characters are refused too: browsers drop tabs and newlines, so `/<tab>/host` is `//host`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return "/" if any(ord(ch) < 32 or ord(ch) == 127 for ch in target) else target


def landing(role: Role) -> str:
    """Where a role starts: the overview (who reads reports), else the queue, else a note."""
    if allowed(role, Permission.READ_REPORTS):
        return "/overview"
    if allowed(role, Permission.READ_CASES):
        return "/queue"
    return "/nothing-here"


def _signin_form(
    request: Request, *, error: str | None = None, name: str = "", status: int = 200
) -> Response:
    state = web_state(request)
    payload = state.signer.unsign("signin", request.cookies.get(SIGNIN_COOKIE))
    token = payload["csrf"] if payload else secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {
            "error": error,
            "name": name,
            "signin_csrf": token,
            "next": safe_next(request.query_params.get("next")),
        },
        status=status,
    )
    if payload is None:
        cookie = state.signer.sign(
            "signin", {"csrf": token, "exp": int(time.time()) + SIGNIN_FORM_MINUTES * 60}
        )
        response.set_cookie(SIGNIN_COOKIE, cookie, **cookie_options(request.url.scheme == "https", None))
    return response


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    user = optional_user(request)
    if user is not None:
        target = safe_next(request.query_params.get("next"))
        return RedirectResponse(landing(user.principal.role) if target == "/" else target, status_code=303)
    return _signin_form(request)


@router.post("/sign-in")
def sign_in(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    state = web_state(request)
    services = services_of(request)
    payload = state.signer.unsign("signin", request.cookies.get(SIGNIN_COOKIE))
    if payload is None or not csrf_matches(payload.get("csrf"), csrf_token):
        return _signin_form(request, error="The sign-in form had expired; please sign in again.", status=403)
    name = name.strip()
    client = request.client.host if request.client else "unknown"
    name_key = name.lower()
    where = {"method": "POST", "endpoint": "/sign-in", "client": client, "via": "web"}
    if not name or len(name) > MAX_NAME or state.names.paused(name_key) or state.addresses.paused(client):
        refusal = "sign-ins paused after repeated failures" if name else "no name given"
        services.auth_events.record(
            EventKind.AUTH_FAILED,
            "anonymous",
            {"reason": refusal, "user": name[:100], **where},
            (refusal, name[:100], client, "/sign-in"),
        )
        return _signin_form(request, error=REFUSED, name=name[:100], status=401)
    with services.db.read() as session:
        result = authenticate_password(session, name, password)
    if result.principal is None:
        state.names.failed(name_key)
        state.addresses.failed(client)
        services.auth_events.record(
            EventKind.AUTH_FAILED,
            "anonymous",
            {"reason": result.refusal, "user": name[:100], **where},
            (result.refusal, name[:100], client, "/sign-in"),
        )
        return _signin_form(request, error=REFUSED, name=name[:100], status=401)
    state.names.succeeded(name_key)
    session = PageSession.new(result.principal.user_id, result.principal.name, result.fingerprint or "")
    target = safe_next(next)
    if target == "/":
        target = landing(result.principal.role)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        state.signer.sign("session", session.payload()),
        **cookie_options(request.url.scheme == "https", SESSION_HOURS * 3600),
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    session = session_of(request)
    if session is not None and not csrf_matches(session.csrf, csrf_token):
        return redirect(
            request, "/", "Sign-out was not confirmed by this site; use the Sign out button.", "error"
        )
    response = redirect(request, "/sign-in", "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request) -> Response:
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(landing(user.principal.role), status_code=303)


@router.get("/nothing-here")
def nothing_here(request: Request) -> Response:
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/sign-in", status_code=303)
    return render(request, "nothing.html", user=user)
