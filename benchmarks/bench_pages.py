"""Page render times with a review queue of 10,000 cases (target: under 200 ms of server time).

The database is filled the way production fills it: the stop switch of the German credit product
line is turned on (every case goes to review) and 10,000 cases (the bundled applicants, cycled
under new ids) are submitted through the API's batch endpoint, so each has its decision,
explanation, review item and audit events. Then each page is requested in the same process
(FastAPI's TestClient: the time is the app's, with no network), and compared in the same run with
two baselines: the raw queue query alone (`review.repository.list_items`, what any page of the
queue must at least cost) and the API's JSON queue for the same page.

Runs on SQLite (a temporary file) and on PostgreSQL (a temporary database on the server of
TEST_DATABASE_URL, default the local one; left out with a note when it does not answer).

    .venv/bin/python benchmarks/bench_pages.py                 # 10,000 queued cases, 30 requests each
    .venv/bin/python benchmarks/bench_pages.py --cases 2000 --repeat 10     # quick
    .venv/bin/python benchmarks/bench_pages.py --write         # record in benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Pages (bench_pages.py)"
PRODUCT = "german_credit"
PASSWORD = "a benchmark password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def build(url: str, home: Path, cases: int) -> tuple[Any, float]:
    """An app on a fresh database with `cases` queued cases; returns (app, seconds to seed)."""
    from fastapi.testclient import TestClient

    from decision_review.api.app import create_app
    from decision_review.datasets import load_dataset
    from decision_review.products.service import set_auto_decisions
    from decision_review.settings import Settings
    from decision_review.store.db import make_engine, make_session_factory
    from decision_review.users.service import add_user, set_password

    settings = Settings(
        database_url=url,
        home=home,
        models_dir=ROOT / "models",
        policies_dir=ROOT / "policies",
        auth_event_interval_seconds=60,
    )
    app = create_app(settings, run_migrations=True, background=False)
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        intake = add_user(session, "bench-intake", "intake", actor="bench").token
        for name, role in (
            ("bench-ana", "underwriter"),
            ("bench-cora", "compliance"),
            ("bench-rita", "risk"),
        ):
            add_user(session, name, role, actor="bench")
            set_password(session, name, PASSWORD, actor="bench")
        set_auto_decisions(
            session, PRODUCT, enabled=False, note="benchmark: every case to review", actor="bench"
        )
    engine.dispose()
    data = load_dataset(PRODUCT)
    records = data.frame.to_dict(orient="records")
    start = time.perf_counter()
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {intake}"
        for offset in range(0, cases, 2000):
            batch = [
                {"case_id": f"B-{i:06d}", **records[i % len(records)]}
                for i in range(offset, min(cases, offset + 2000))
            ]
            response = client.post(f"/api/v1/products/{PRODUCT}/cases/batch", json={"cases": batch})
            assert response.status_code == 201, response.text[:500]
    return app, time.perf_counter() - start


def sign_in(client: Any, name: str) -> None:
    token = CSRF.search(client.get("/sign-in").text).group(1)
    response = client.post("/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text[:300]


def timed(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    call()  # warm: templates compiled, engines and caches built
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "max": times[-1],
    }


def run(url: str, cases: int, repeat: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from decision_review.review.repository import QueueFilter, list_items
    from decision_review.store.repository import utc_now

    home = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    app, seed_seconds = build(url, home, cases)
    services = app.state.services
    results: dict[str, dict[str, float]] = {}
    last_page = max(1, -(-cases // 50))
    clients = [TestClient(app, follow_redirects=False) for _ in range(3)]
    with clients[0] as ana, clients[1] as cora, clients[2] as api:
        sign_in(ana, "bench-ana")
        sign_in(cora, "bench-cora")
        with services.db.read() as session:
            rows, total = list_items(session, PRODUCT, QueueFilter(), now=utc_now(), limit=1, offset=0)
        assert total == cases, f"{total} queued, expected {cases}"
        first_case = rows[0].case_id

        def query(offset: int) -> Callable[[], Any]:
            def call() -> Any:
                with services.db.read() as session:
                    return list_items(session, PRODUCT, QueueFilter(), now=utc_now(), limit=50, offset=offset)

            return call

        def page(client: Any, path: str) -> Callable[[], Any]:
            def call() -> Any:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                return response

            return call

        api.headers["Authorization"] = "Bearer " + _token(services, "bench-ana")
        results["baseline: queue query, first 50 (list_items)"] = timed(query(0), repeat)
        results["baseline: queue query, last 50"] = timed(query((last_page - 1) * 50), repeat)
        results["baseline: API JSON queue, first 50"] = timed(
            page(api, f"/api/v1/products/{PRODUCT}/queue?limit=50"), repeat
        )
        results["queue page, first 50"] = timed(page(ana, f"/queue?product={PRODUCT}"), repeat)
        results["queue page, last 50"] = timed(
            page(ana, f"/queue?product={PRODUCT}&page={last_page}"), repeat
        )
        results["queue page, one queue, past due"] = timed(
            page(ana, f"/queue?product={PRODUCT}&queue=standard_review&sla=breached"), repeat
        )
        results["case page"] = timed(page(ana, f"/cases/{PRODUCT}/{first_case}"), repeat)
        results["overview"] = timed(page(cora, f"/overview?product={PRODUCT}"), repeat)
        results["audit log, first 100 events"] = timed(page(cora, "/compliance/audit"), repeat)
        results["audit log, one case"] = timed(page(cora, f"/compliance/audit?case_id={first_case}"), repeat)
        results["fairness report (cached a minute)"] = timed(
            page(cora, f"/compliance/fairness?product={PRODUCT}"), repeat
        )
    return {
        "results": results,
        "seed_seconds": seed_seconds,
        "cases": cases,
        "repeat": repeat,
        "engine": "postgresql" if url.startswith("postgres") else "sqlite",
    }


def _token(services: Any, name: str) -> str:
    from decision_review.users.service import issue_token

    with services.db.write() as session:
        return issue_token(session, name, actor="bench").token


def report(outcome: dict[str, Any]) -> str:
    results = outcome["results"]
    base = results["baseline: queue query, first 50 (list_items)"]["p50"]
    lines = [
        f"{datetime.now(UTC):%Y-%m-%dT%H:%MZ}, {platform.machine()}, {os.cpu_count()} CPUs (shared with "
        f"other work: noisy), Python {platform.python_version()}, {outcome['engine']}.",
        "",
        f"{outcome['cases']:,} cases queued (submitted through the batch API with the stop switch on, "
        f"{outcome['seed_seconds']:.0f} s); each figure is {outcome['repeat']} requests in-process "
        "(TestClient: the app's own time, no network), after one warm-up request.",
        "",
        "| request | p50 ms | p95 ms | max ms | p50 / raw query |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, t in results.items():
        lines.append(
            f"| {name} | {t['p50']:.1f} | {t['p95']:.1f} | {t['max']:.1f} | {t['p50'] / base:.1f}x |"
        )
    slowest = max(
        (t["p95"], n) for n, t in results.items() if not n.startswith("baseline") and "cached" not in n
    )
    lines += [
        "",
        f"Slowest page at p95: {slowest[1]} ({slowest[0]:.0f} ms); target 200 ms of server time per page.",
    ]
    return "\n".join(lines)


def write(text: str) -> None:
    content = RESULTS.read_text(encoding="utf-8")
    start = content.index(SECTION) + len(SECTION)
    following = content.find("\n## ", start)
    end = following if following != -1 else len(content)
    RESULTS.write_text(content[:start] + "\n\n" + text + "\n" + content[end:], encoding="utf-8")


def on_postgresql(cases: int, repeat: int) -> str:
    """The same run on a temporary PostgreSQL database (dropped afterwards), or a note why not."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG))
    name = f"dr_bench_pages_{uuid.uuid4().hex[:8]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        return f"PostgreSQL: not run ({str(exc).strip().splitlines()[0]})."
    try:
        url = server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        return report(run(url, cases, repeat))
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--sqlite-only", action="store_true", help="Leave PostgreSQL out.")
    parser.add_argument("--write", action="store_true", help=f"Record in {RESULTS.name}, {SECTION}.")
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-pages-db-')}/pages.db"
    print(f"seeding {args.cases:,} queued cases (SQLite) ...", file=sys.stderr)
    parts = [report(run(url, args.cases, args.repeat))]
    if not args.sqlite_only:
        print(f"seeding {args.cases:,} queued cases (PostgreSQL) ...", file=sys.stderr)
        parts.append(on_postgresql(args.cases, args.repeat))
    text = "\n\n".join(parts)
    print(text)
    if args.write:
        write(text)
        print(f"written to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
