"""Who is looking at a page, and whether their role may: the same permission table as the API.

A page declares what it does (`page(Permission.WORK_REVIEWS)`); `users.permissions` alone says
which roles may. Refusals are audited exactly as the API's are (`access_denied`, throttled by the
same `AuthEvents`), and the person sees a 403 page that says what their role may not do.
POST routes use `form(...)`, which also checks the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request

from decision_review.api.deps import Services, services_of
from decision_review.audit.chain import EventKind
from decision_review.users.permissions import Permission, allowed
from decision_review.users.service import Principal, signed_in_principal
from decision_review.web.session import SESSION_COOKIE, PageSession, csrf_matches


class SignInRequired(Exception):
    """No valid session: the person is sent to the sign-in page (and back afterwards)."""


class PageForbidden(Exception):
    """Signed in, but this role or product line may not see this page."""


class FormExpired(Exception):
    """A POST without the session's CSRF token (an old page, or a form from another site)."""


@dataclass(frozen=True, slots=True)
class PageUser:
    principal: Principal
    session: PageSession

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def may(self, permission: Permission) -> bool:
        return allowed(self.principal.role, permission)


def _signer(request: Request) -> Any:
    return request.app.state.web.signer


def session_of(request: Request) -> PageSession | None:
    """The session the cookie claims (signature and expiry checked), or None."""
    payload = _signer(request).unsign("session", request.cookies.get(SESSION_COOKIE))
    return PageSession.from_payload(payload)


def optional_user(request: Request) -> PageUser | None:
    """The signed-in person, if the cookie is valid and the user still enabled with that password."""
    cached = getattr(request.state, "page_user", False)
    if cached is not False:
        return cached
    user = None
    session = session_of(request)
    if session is not None:
        services: Services = services_of(request)
        with services.db.read() as db:
            principal = signed_in_principal(db, session.user_id, session.fingerprint)
        if principal is not None:
            user = PageUser(principal, session)
    request.state.page_user = user
    return user


def current_user(request: Request) -> PageUser:
    user = optional_user(request)
    if user is None:
        raise SignInRequired()
    return user


def _where(request: Request) -> dict[str, Any]:
    route = request.scope.get("route")
    return {
        "method": request.method,
        "endpoint": getattr(route, "path", request.url.path),
        "client": request.client.host if request.client else None,
    }


def refuse(request: Request, user: PageUser, reason: str, product: str | None = None) -> PageForbidden:
    """Audit a refusal (throttled, as the API does) and return the exception to raise."""
    services: Services = services_of(request)
    where = _where(request)
    services.auth_events.record(
        EventKind.ACCESS_DENIED,
        user.name,
        {"reason": reason, "role": user.principal.role.value, "product": product, "via": "web", **where},
        (reason, where["endpoint"]),
    )
    return PageForbidden(reason)


def check(request: Request, user: PageUser, permission: Permission) -> PageUser:
    product = request.path_params.get("product")
    if not user.may(permission):
        raise refuse(request, user, f"role {user.principal.role.value} may not {permission.value}", product)
    if product is not None and not user.principal.can_see(product):
        raise refuse(request, user, f"user {user.name} is not allowed product line {product!r}", product)
    return user


def page(permission: Permission) -> Callable[..., PageUser]:
    """A dependency for a GET page: the signed-in person, if their role has `permission`."""

    def dependency(request: Request) -> PageUser:
        return check(request, current_user(request), permission)

    dependency.__name__ = f"page_{permission.name.lower()}"
    return dependency


def form(permission: Permission) -> Callable[..., PageUser]:
    """A dependency for a POST: as `page`, and the form's `csrf_token` must be the session's."""

    def dependency(request: Request, csrf_token: Annotated[str, Form()] = "") -> PageUser:
        user = current_user(request)
        if not csrf_matches(user.csrf, csrf_token):
            raise FormExpired()
        return check(request, user, permission)

    dependency.__name__ = f"form_{permission.name.lower()}"
    return dependency


SignedIn = Annotated[PageUser, Depends(current_user)]
