"""Single-case submissions arriving at the same moment share one engine call and one transaction.

Why: deciding one case or twenty costs the engine nearly the same (it is vectorised), and on SQLite
every transaction is a disk sync under one write lock; done one by one, online submissions queue
behind each other's commits. Here a submission waits at most `window` seconds (2 ms by default)
for others of the same product line and submitter, then the group is decided by one
`submit_cases` call, whose results go back to each caller. A group never holds the same case id
twice at once (a second copy is decided after the first, and finds it stored: a duplicate).
Each case still gets its own result: one caller's conflict or invalid case does not touch the
others'. With `window` 0 every submission is decided on its own.

One group is decided at a time per worker: while it runs, new submissions gather
in the next group, so under load the groups grow (up to `max_group`) and each case carries less of
a group's fixed cost. Two groups at once only fought over the worker's one GIL: measured with
`benchmarks/bench_api.py`, groups averaged 5 cases at 86 ms with two running, 8 at 50 ms with one.

A group that had to wait for the one before it, of the same product line and submitter, waits one
more `window` once its turn comes: the callers just answered send their next cases at that moment,
and they join this group instead of starting the one after it. Without that, a submitter's clients
split into two halves that took turns, each half waiting for the other's group. Measured at 24
clients: mean groups of ~8 and ~4 cases on the two workers before, 13-20 and 5-8 with it, and
1.2-1.7x the rate (benchmarks/RESULTS.md, "API").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from decision_review.cases.service import CaseResult, Transactions, submit_cases
from decision_review.cases.validation import CaseInvalid, validate_case

if TYPE_CHECKING:
    from decision_review.products.service import ProductCatalog


@dataclass
class _Group:
    records: list[dict[str, Any]] = field(default_factory=list)
    futures: list[asyncio.Future[CaseResult]] = field(default_factory=list)


class CaseIntake:
    """Groups concurrent single-case submissions per (product line, submitter)."""

    def __init__(
        self,
        tx: Transactions,
        catalog: ProductCatalog,
        *,
        window_seconds: float,
        max_group: int,
    ) -> None:
        self.tx = tx
        self.catalog = catalog
        self.window = window_seconds
        self.max_group = max_group
        self._open: dict[tuple[str, str], _Group] = {}
        self._running: asyncio.Lock | None = None  # made in the event loop that uses it
        self._last_key: tuple[str, str] | None = None  # whose group ran last
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while groups run

    async def submit(self, product: str, record: dict[str, Any], actor: str) -> CaseResult:
        """Decide and store one case (as part of a group); raises NotFound for an unknown product."""
        if self.window <= 0:
            return (await anyio.to_thread.run_sync(self.decide_group, product, actor, [record]))[0]
        loop = asyncio.get_running_loop()
        if self._running is None:
            self._running = asyncio.Lock()
        key = (product, actor)
        group = self._open.get(key)
        if group is None or len(group.records) >= self.max_group:
            group = _Group()
            self._open[key] = group
            self._tasks.add(task := loop.create_task(self._run(key, group)))
            task.add_done_callback(self._tasks.discard)
        future: asyncio.Future[CaseResult] = loop.create_future()
        group.records.append(record)
        group.futures.append(future)
        return await future

    async def _run(self, key: tuple[str, str], group: _Group) -> None:
        await asyncio.sleep(self.window)
        assert self._running is not None
        waited = self._running.locked()
        async with self._running:
            if waited and self._last_key == key:  # its callers' next cases are on their way
                await asyncio.sleep(self.window)
            if self._open.get(key) is group:
                del self._open[key]
            self._last_key = key
            try:
                results = await anyio.to_thread.run_sync(self.decide_group, key[0], key[1], group.records)
            except BaseException as exc:  # every waiting caller gets the error, none hangs
                for future in group.futures:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                return
        for future, result in zip(group.futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    def decide_group(self, product: str, actor: str, records: list[dict[str, Any]]) -> list[CaseResult]:
        """Validate each record against the live contract, then decide and store the valid ones."""
        import pandas as pd

        with self.tx.read() as session:
            live = self.catalog.live(session, product)
        contract = live.engine.model.contract
        columns = [contract.id_field, *contract.field_names]
        results: list[CaseResult | None] = [None] * len(records)
        rounds: list[dict[int, dict[str, Any]]] = []  # each round holds distinct case ids
        for position, record in enumerate(records):
            try:
                case = validate_case(record, contract)
            except CaseInvalid as exc:
                results[position] = CaseResult(
                    exc.case_id or "", "invalid", error=str(exc), problems=exc.problems
                )
                continue
            for held in rounds:
                if all(c[contract.id_field] != case[contract.id_field] for c in held.values()):
                    held[position] = case
                    break
            else:
                rounds.append({position: case})
        for held in rounds:
            cases = list(held.values())
            frame = pd.DataFrame({name: [c[name] for c in cases] for name in columns})
            decided = submit_cases(self.tx, live, frame, actor=actor, conflicts="report", records=cases)
            for position, result in zip(held, decided, strict=True):
                results[position] = result
        return results  # type: ignore[return-value]
