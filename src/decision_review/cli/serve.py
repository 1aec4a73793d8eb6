"""``decision-review serve``: run the HTTP API (migrating the database first).

Why migrate here: a fresh machine should go from nothing to a running service in one command; the
migrations are safe to run again. The bundled policies of product lines with nothing published
are published once, here, before the workers start (each worker would otherwise race to do it).
Workers: one per core is the usual choice; on SQLite the writers share one lock, so more workers
help only until scoring, not writing, is the bottleneck (benchmarks/RESULTS.md, "API").
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from decision_review.settings import Settings


def register(app: typer.Typer) -> None:
    """Add the `serve` command to the main app."""
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (one per core).")] = 1,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Default: DATABASE_URL, else the SQLite file.")
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (uvicorn's access log).")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (docs at http://HOST:PORT/docs); migrations run first."""
    import uvicorn

    from decision_review.backtest.gates import PublishGate
    from decision_review.modeling.registry import ModelRegistry
    from decision_review.policies.service import bootstrap_policies
    from decision_review.store.db import make_engine, make_session_factory, migrate, resolve_url

    if database_url:
        os.environ["DATABASE_URL"] = database_url  # the workers read their settings from the environment
    settings = Settings()
    url = resolve_url(settings.database_url, settings)
    migrate(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        registry = ModelRegistry(settings.models_dir)
        gates = PublishGate(registry, base_dir=settings.policies_dir)
        published = bootstrap_policies(sessions.begin, settings.policies_dir, registry, gates=gates)
    finally:
        engine.dispose()
    for version in published:
        typer.echo(f"published {version.name} version {version.version} for {version.product} (bootstrap)")
    typer.echo(f"decision-review API on http://{host}:{port} (docs: /docs), {workers} worker(s)")
    uvicorn.run(
        "decision_review.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level=log_level,
    )
