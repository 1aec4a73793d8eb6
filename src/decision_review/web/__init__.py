"""The web pages for underwriters, compliance and risk: server-rendered, served by the API's app.

`mount_web(app)` adds the pages at ``/`` (sign-in, overview, queue, case, compliance and risk
pages) and their one stylesheet and one script at ``/static``; the API stays under ``/api/v1``.
Pages call the same services as the API, check the same permission table, and work without
JavaScript (the script only adds keyboard shortcuts). docs/web.md is the guide.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match
from starlette.types import Scope

from decision_review.web.pages import PageRoute, WebState, environment, error_page
from decision_review.web.session import Signer, session_secret

STATIC = Path(__file__).parent / "static"
# Paths that belong to the API and its documentation: an unknown one there gets the API's JSON 404.
API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/metrics", "/health", "/static/")


class _PageFallback(PageRoute):
    """Matches any GET address outside the API's: the last route, so only unknown pages reach it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http" and str(scope.get("path", "")).startswith(API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


class _Static(StaticFiles):
    """The stylesheet and script, cached for a day (their URLs carry the version), never sniffed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def page_routers() -> list[APIRouter]:
    """The routers of the pages, sign-in first (also what tests walk to reach every page)."""
    from decision_review.web import (
        routes_compliance,
        routes_overview,
        routes_review,
        routes_risk,
        routes_session,
    )

    modules = (routes_session, routes_overview, routes_review, routes_compliance, routes_risk)
    return [module.router for module in modules]


def mount_web(app: FastAPI) -> None:
    """Add the pages and their static files to `app` (built by `api.app.create_app`)."""
    settings = app.state.services.settings
    app.state.web = WebState(env=environment(), signer=Signer(session_secret(settings)))
    app.mount("/static", _Static(directory=STATIC), name="static")
    for router in page_routers():
        app.include_router(router)

    fallback = APIRouter(route_class=_PageFallback, include_in_schema=False)

    @fallback.get("/{path:path}")
    def not_found(request: Request, path: str) -> Response:
        """Any other address: a 404 page for people (the API's addresses keep their JSON errors)."""
        return error_page(request, 404, "No such page", "There is no page at this address.")

    app.include_router(fallback)
