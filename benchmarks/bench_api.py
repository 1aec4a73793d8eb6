"""Load run of the HTTP API on loopback: single-case decisions per second with latency percentiles,
and batch throughput, against `decision-review serve` on SQLite and on PostgreSQL.

The server runs as its own process (`decision-review serve --workers W`); this process is the
client (aiohttp for single cases at a fixed concurrency, httpx for batches; a bounded number of
requests). Every request is a new case (a German credit golden case under a fresh id), so each
one is decided, stored and audited; nothing is a duplicate. In the same run, as the floor to
compare with, the engine alone decides one case at a time and then whole batches in this
process (no HTTP, no database): no API answer can beat those.

Single cases run at each concurrency given (default 16, 24 and 32 clients): at a fixed number of
requests in flight the rate and the latency trade against each other (Little's law), so one
concurrency alone says little about a target that names both. Beside each, the server's CPU time
per request (its processes, from /proc): its efficiency, which drifts less than the rate does.

Batches of new cases are sent by one client, then by two at once (`--batch-clients`): one batch
is one worker's work, so a single client leaves the other worker idle.

    python benchmarks/bench_api.py                       # both engines, defaults below
    python benchmarks/bench_api.py --engine sqlite --requests 2000 --concurrency 24 --workers 2

Targets (issue 5, 2-core machine): >= 500 single-case decisions/s with p99 <= 50 ms on SQLite;
batch >= 20,000 cases/s. The machine is shared: figures are noisy (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PRODUCT = "german_credit"


def templates() -> list[dict]:
    from decision_review.policy import read_policy

    spec = read_policy(ROOT / "policies" / f"{PRODUCT}.yaml").spec
    return [dict(g.case) for g in spec.golden_cases]


@contextmanager
def database(kind: str, home: Path):
    if kind == "sqlite":
        yield f"sqlite:///{home / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"dr_bench_api_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_SERVER).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def intake_token(url: str) -> str:
    from decision_review.store.db import make_engine, make_session_factory, migrate
    from decision_review.users.service import add_user

    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            return add_user(session, "bench", "intake", actor="bench").token
    finally:
        engine.dispose()


@contextmanager
def server(url: str, home: Path, port: int, workers: int):
    env = {**os.environ, "DATABASE_URL": url, "DR_HOME": str(home), "DR_MODELS_DIR": str(ROOT / "models"),
           "DR_POLICIES_DIR": str(ROOT / "policies")}  # fmt: skip
    command = [sys.executable, "-m", "decision_review.cli.main", "serve", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(
        command,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                if answer.status_code == 200 and process.poll() is None:  # ours, not another server
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:  # e.g. the port is taken
                raise RuntimeError(
                    f"the server did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def server_cpu_seconds(group: int) -> float | None:
    """CPU time used so far by the server's processes (its process group; Linux /proc only).

    Per request it is the server's efficiency, which drifts less than the rate on a shared machine."""
    if not os.path.isdir("/proc"):
        return None
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def single_cases(base: str, token: str, n: int, concurrency: int, run: str) -> dict:
    """`n` single-case requests at a fixed concurrency. The client is aiohttp: httpx's asyncio
    client costs ~3.5 ms of CPU per request here against ~0.3 ms, and the client shares the
    server's two cores, so with httpx the load generator itself capped the rate near 280/s."""
    import aiohttp

    cases = templates()
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                i = queue.get_nowait()
                body = {"case_id": f"{run}-{i}", **cases[i % len(cases)]}
                start = time.perf_counter()
                async with client.post(f"/api/v1/products/{PRODUCT}/cases", json=body) as response:
                    await response.read()
                latencies.append(time.perf_counter() - start)
                if response.status != 201:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": n,
        "errors": errors,
        "per_second": n / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def batches(base: str, token: str, size: int, count: int, run: str, clients: int = 1) -> dict:
    """`count` batches of `size` new cases from each of `clients` clients at once (threads, one
    httpx client each): cases answered per second of wall time. Bodies are encoded before the
    clock starts, so the client's own JSON work is not counted as the server's."""
    cases = templates()
    bodies = [
        [
            json.dumps(
                {"cases": [{"case_id": f"{run}-k{k}-b{b}-{i}", **cases[i % len(cases)]} for i in range(size)]}
            ).encode()
            for b in range(count)
        ]
        for k in range(clients)
    ]

    def send(mine: list[bytes]) -> int:
        created = 0
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            for body in mine:
                response = client.post(f"/api/v1/products/{PRODUCT}/cases/batch", content=body)
                if response.status_code != 201:
                    raise RuntimeError(f"batch failed: {response.status_code} {response.text[:300]}")
                created += response.json()["counts"].get("created", 0)
        return created

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        created = sum(pool.map(send, bodies))
    elapsed = time.perf_counter() - start
    total = size * count * clients
    return {
        "clients": clients,
        "cases": total,
        "created": created,
        "per_second": total / elapsed,
        "seconds_per_round": elapsed / count,  # one batch from each client
    }


def engine_floor(n: int, batch_size: int, rounds: int) -> dict:
    """The engine alone in this process, one case per call and then whole batches (explaining
    what needs it, as the API does): what no API answer can beat."""
    import pandas as pd

    from decision_review.engine import DecisionEngine
    from decision_review.modeling.registry import ModelRegistry

    engine = DecisionEngine.from_policy_file(
        ROOT / "policies" / f"{PRODUCT}.yaml", ModelRegistry(ROOT / "models")
    )
    cases = templates()
    frames = [pd.DataFrame([{"case_id": f"floor-{i}", **cases[i % len(cases)]}]) for i in range(n)]
    times = []
    for frame in frames:
        start = time.perf_counter()
        engine.decide(frame)
        times.append(time.perf_counter() - start)
    big = pd.DataFrame([{"case_id": f"floor-b{i}", **cases[i % len(cases)]} for i in range(batch_size)])
    engine.decide(big)  # warm-up
    start = time.perf_counter()
    for _ in range(rounds):
        engine.decide(big)
    batch_seconds = (time.perf_counter() - start) / rounds
    return {
        "p50_ms": percentile(times, 0.5) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "batch_per_second": batch_size / batch_seconds,
    }


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def client_counts(text: str) -> list[int]:
    """`--concurrency` and `--batch-clients`: one number or a comma list of them, each at least 1."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers of clients, e.g. 24 or 16,24,32") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one number of clients, each 1 or more")
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=positive, default=2000, help="single-case requests per engine")
    parser.add_argument(
        "--concurrency",
        type=client_counts,
        default=[16, 24, 32],
        help="clients in flight for single cases; a comma list runs each (default 16,24,32)",
    )
    parser.add_argument("--workers", type=positive, default=2, help="uvicorn worker processes")
    parser.add_argument("--batch-size", type=positive, default=5000)
    parser.add_argument("--batches", type=positive, default=3)
    parser.add_argument(
        "--batch-clients",
        type=client_counts,
        default=[1, 2],
        help="clients sending batches at once; a comma list runs each (default 1,2)",
    )
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    gc.freeze()  # the client's own full collections would show up as server latency
    levels = args.concurrency
    print(f"workers {args.workers}, concurrency {levels}, {args.requests} single cases per level, "
          f"{args.batches} batches of {args.batch_size}")  # fmt: skip
    floor = engine_floor(300, args.batch_size, args.batches)
    print(
        f"engine alone, one case per call (floor): p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms"
    )
    print(f"engine alone, batches of {args.batch_size} (floor): {floor['batch_per_second']:7.0f} cases/s")
    kinds = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    port = args.port or free_port()
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="dr-bench-api-") as tmp, database(kind, Path(tmp)) as url:
            token = intake_token(url)
            with server(url, Path(tmp), port, args.workers) as (base, group):
                run = uuid.uuid4().hex[:6]
                warm_up = single_cases(base, token, min(200, args.requests), levels[0], run + "w")
                asyncio.run(warm_up)
                singles = []
                for c in levels:
                    cpu_before = server_cpu_seconds(group)
                    single = asyncio.run(single_cases(base, token, args.requests, c, f"{run}c{c}"))
                    cpu_after = server_cpu_seconds(group)
                    if cpu_before is not None and cpu_after is not None:
                        single["server_cpu_ms"] = (cpu_after - cpu_before) / args.requests * 1000
                    singles.append((c, single))
                batch_runs = [
                    batches(base, token, args.batch_size, args.batches, f"{run}k{k}", k)
                    for k in args.batch_clients
                ]
        for concurrency, single in singles:
            cpu = single.get("server_cpu_ms")
            print(
                f"{kind:10s} single, {concurrency:3d} clients: {single['per_second']:5.0f} decisions/s, "
                f"p50 {single['p50_ms']:.1f} ms, p95 {single['p95_ms']:.1f} ms, "
                f"p99 {single['p99_ms']:.1f} ms, errors {single['errors']}"
                + (f", server CPU {cpu:.2f} ms/request" if cpu is not None else "")
            )
        for batch in batch_runs:
            print(
                f"{kind:10s} batch, {batch['clients']} client(s): {batch['per_second']:7.0f} cases/s "
                f"({batch['seconds_per_round']:.2f} s per round of {batch['clients']} x {args.batch_size}, "
                f"{batch['created']} created)"
            )


if __name__ == "__main__":
    main()
