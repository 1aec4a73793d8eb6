"""The FastAPI application: `create_app(settings)` assembles the routers of every feature.

Start it with `decision-review serve` (which migrates the database first), or in tests with
`create_app(Settings(database_url=...))` and FastAPI's TestClient. On creation it publishes the
bundled policies of product lines that have none yet (actor ``system``, audited; see
`policies.service.bootstrap_policies`) and builds each live product line's engine, so no request
pays for loading a model. While it runs, a background task checks alert conditions.

The OpenAPI description is at /openapi.json, the interactive docs at /docs; docs/api.md is the
guide (endpoints, roles, errors, idempotency, examples).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import text

from decision_review import __version__
from decision_review.alerts.checker import AlertChecker
from decision_review.api import errors
from decision_review.api.deps import Database, Services
from decision_review.api.limits import BodyLimit
from decision_review.api.strict import documented_inputs, refuse_what_is_not_taken
from decision_review.cases.intake import CaseIntake
from decision_review.policies.service import GateCheck, bootstrap_policies
from decision_review.products.service import ProductCatalog, live_products
from decision_review.settings import Settings
from decision_review.store.db import migrate, resolve_url
from decision_review.users.auth_events import AuthEvents
from decision_review.users.token_cache import TokenCache
from decision_review.web import mount_web

log = logging.getLogger("decision_review.api")

DESCRIPTION = """Decide cases with a model and a policy, route the hard ones to people, and keep an
audit log nobody can quietly rewrite. Every call needs `Authorization: Bearer <token>`; tokens
come from `decision-review users add NAME --role ROLE`. Errors are JSON:
`{"error": ..., "message": ..., "problems": [...]}`. Guide: docs/api.md."""


def create_app(
    settings: Settings | None = None,
    *,
    registry: Any = None,
    catalog: ProductCatalog | None = None,
    publish_gates: GateCheck | None = None,
    run_migrations: bool = False,
    bootstrap: bool = True,
    background: bool = True,
) -> FastAPI:
    """A ready application on the settings' database.

    `publish_gates` is the check a policy must pass to be published: by default the backtest's
    gates on each policy's reference history (`backtest.gates.PublishGate`). `catalog` shares
    built engines between apps (tests build many apps on the same policies).
    `run_migrations` brings the schema up to date first (the `serve` command does it once
    before starting workers). `background` runs the alert checker while the app runs.
    """
    from decision_review.modeling.registry import ModelRegistry

    settings = settings or Settings()
    url = resolve_url(settings.database_url, settings)
    if run_migrations:
        migrate(url)
    db = Database(url, pool_size=settings.db_pool_size)
    if catalog is not None:
        registry = catalog.registry
    registry = registry or ModelRegistry(settings.models_dir)
    catalog = catalog or ProductCatalog(registry, settings)
    if publish_gates is None:
        from decision_review.backtest.gates import PublishGate

        publish_gates = PublishGate(registry, base_dir=settings.policies_dir)
    services = Services(
        settings=settings,
        db=db,
        registry=registry,
        catalog=catalog,
        intake=CaseIntake(
            db, catalog, window_seconds=settings.submit_window_ms / 1000, max_group=settings.submit_group_max
        ),
        auth_events=AuthEvents(db.write, settings.auth_event_interval_seconds),
        alerts=AlertChecker(db.write, settings),
        tokens=TokenCache(settings.auth_cache_seconds),
        publish_gates=publish_gates,
    )
    if bootstrap:
        bootstrap_policies(db.write, settings.policies_dir, registry, gates=publish_gates)
    with db.read() as session:
        for product in live_products(session):
            try:
                catalog.live(session, product)  # build and cache its engine now
            except Exception:  # a broken product line must not keep the others from starting
                log.exception("product line %s could not be loaded", product)

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        task = None
        if background:  # a server, not a test's app
            documented_inputs(application)
            task = asyncio.create_task(services.alerts.run_forever())
            # What startup built (models, engines, modules) lives as long as the process. Frozen,
            # the garbage collector's full passes skip it: unfrozen, one pass took ~200 ms under
            # load and stalled every request in flight (bench_api's p99).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            db.dispose()

    # The docs pages load Swagger UI and ReDoc from this app, not from a CDN: a bank's network (and
    # a test machine) often reaches none, and FastAPI's own /docs is a blank page there.
    app = FastAPIOffline(
        title="decision-review",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    _include_routers(app)

    @app.get("/health", tags=["health"], summary="Liveness and database reachability (no auth)")
    def health() -> dict[str, Any]:
        with db.read() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": db.engine.dialect.name}

    mount_web(app)  # the pages for people at /, after every API route (docs/web.md)
    return app


def _include_routers(app: FastAPI) -> None:
    from decision_review.alerts.routes import router as alerts
    from decision_review.audit.routes import router as audit
    from decision_review.cases.routes import router as cases
    from decision_review.policies.routes import router as policies
    from decision_review.products.routes import router as products
    from decision_review.reports.routes import router as reports
    from decision_review.review.routes import router as review
    from decision_review.users.routes import router as users

    for router in (products, cases, review, policies, audit, reports, alerts, users):
        app.include_router(router, dependencies=[Depends(refuse_what_is_not_taken)])


def app_from_environment() -> FastAPI:
    """The factory `decision-review serve` hands to uvicorn (settings from the environment)."""
    return create_app(Settings())
