"""The one way in for each dependency of a route: the database, the services, the settings and the
current user.

Routes never import engines, settings or sessions as globals: `create_app` builds one `Services`
object and every route receives what it needs from here, so a test builds an app on its own
database and settings and nothing leaks between them.

Who is calling is settled in one place, `current_principal`: today a bearer token; the web pages
(a session cookie) add their resolver beside the bearer one, and every permission check below
works unchanged for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from decision_review.api.errors import Forbidden, Unauthenticated
from decision_review.audit.chain import EventKind
from decision_review.settings import Settings
from decision_review.store.db import READ_ONLY_OPTION, make_engine, make_session_factory
from decision_review.users.auth_events import AuthEvents
from decision_review.users.permissions import Permission, allowed
from decision_review.users.service import Principal, authenticate, needs_touch, touch_token
from decision_review.users.token_cache import TokenCache

if TYPE_CHECKING:
    from decision_review.alerts.checker import AlertChecker
    from decision_review.cases.intake import CaseIntake
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.policies.service import GateCheck
    from decision_review.products.service import ProductCatalog


class Database:
    """An engine and its sessions: `read()` for lookups, `write()` for one atomic change.

    On SQLite a read begins a deferred transaction, so lookups never queue behind the writer's
    lock (every other transaction begins IMMEDIATE, see store.db). `write()` commits when its block
    ends without an exception and rolls back otherwise.
    """

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.engine = make_engine(url, pool_size=pool_size, max_overflow=pool_size)
        self._writes = make_session_factory(self.engine)
        self._reads = make_session_factory(self.engine.execution_options(**{READ_ONLY_OPTION: True}))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writes.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass
class Services:
    """Everything the routes use, built once per application (see `api.app.create_app`)."""

    settings: Settings
    db: Database
    registry: ModelRegistry
    catalog: ProductCatalog
    intake: CaseIntake
    auth_events: AuthEvents
    alerts: AlertChecker
    tokens: TokenCache
    publish_gates: GateCheck | None = None


def services_of(request: Request) -> Services:
    """The app's services, for code that runs outside FastAPI's dependency injection (the pages)."""
    return request.app.state.services


async def get_services(request: Request) -> Services:
    """(async: FastAPI would run a plain function in its thread pool, one hop per request for nothing)"""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `decision-review users add NAME --role ROLE` (shown once).",
)


def _where(request: Request) -> dict[str, Any]:
    route = request.scope.get("route")
    return {
        "method": request.method,
        "endpoint": getattr(route, "path", request.url.path),
        "client": request.client.host if request.client else None,
    }


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from the bearer token; 401 (audited) when there is none or it is not valid.

    A token accepted a moment ago is taken from the cache (`users.token_cache`); otherwise the
    lookups run in a worker thread (one hop per request). The services come from the app, not
    from a nested dependency: FastAPI's resolution of each dependency level costs measurable time
    on every call."""
    services = services_of(request)
    if credentials is not None and credentials.scheme.lower() == "bearer":
        cached = services.tokens.get(credentials.credentials)
        if cached is not None:
            return cached
    return await anyio.to_thread.run_sync(_principal, request, services, credentials)


def _principal(
    request: Request, services: Services, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    where = _where(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        services.auth_events.record(
            EventKind.AUTH_FAILED, "anonymous", {"reason": "no bearer token", **where},
            ("no token", where["client"], where["endpoint"]),
        )  # fmt: skip
        raise Unauthenticated("authentication required: send `Authorization: Bearer <token>`")
    with services.db.read() as session:
        result = authenticate(session, credentials.credentials)
    if result.principal is None:
        token = credentials.credentials
        shown = token[:11] if token.startswith("dr_") else None
        services.auth_events.record(
            EventKind.AUTH_FAILED, "anonymous", {"reason": result.refusal, "token_prefix": shown, **where},
            (result.refusal, shown, where["client"], where["endpoint"]),
        )  # fmt: skip
        raise Unauthenticated("the bearer token is not valid (unknown, revoked, or its user is disabled)")
    if result.principal.token_id is not None and needs_touch(result):
        with services.db.write() as session:
            touch_token(session, result.principal.token_id)
    services.tokens.put(credentials.credentials, result.principal)
    return result.principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def permit(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the caller, if their role has `permission` and (for routes with a `{product}`
    path parameter) their product lines include it; otherwise 403, audited."""

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        principal = await current_principal(request, credentials)
        product = request.path_params.get("product")
        if not allowed(principal.role, permission):
            reason = f"role {principal.role.value} may not {permission.value}"
        elif product is not None and not principal.can_see(product):
            reason = f"user {principal.name} is not allowed product line {product!r}"
        else:
            return principal
        where = _where(request)
        await anyio.to_thread.run_sync(
            services_of(request).auth_events.record,
            EventKind.ACCESS_DENIED,
            principal.name,
            {"reason": reason, "role": principal.role.value, "product": product, **where},
            (reason, where["endpoint"]),
        )
        raise Forbidden(f"forbidden: {reason}")

    dependency.__name__ = f"permit_{permission.name.lower()}"
    return dependency
