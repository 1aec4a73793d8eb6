"""How single-case submissions are grouped (cases.intake): the grouping alone, with deciding
replaced by a recorder that takes a fixed time (the real decide-and-store path is tested through
the API in test_submission.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from decision_review.cases.intake import CaseIntake
from decision_review.cases.service import CaseResult

WINDOW = 0.05  # long enough that a loaded test machine still meets the timings below
DECIDE = 0.25


class RecordingIntake(CaseIntake):
    def __init__(self, window: float = WINDOW) -> None:
        super().__init__(tx=None, catalog=None, window_seconds=window, max_group=64)  # type: ignore[arg-type]
        self.groups: list[tuple[str, list[str]]] = []
        self.spans: list[tuple[float, float]] = []  # when each group was decided

    def decide_group(self, product: str, actor: str, records: list[dict[str, Any]]) -> list[CaseResult]:
        self.groups.append((actor, [r["case_id"] for r in records]))
        start = time.perf_counter()
        time.sleep(DECIDE)
        self.spans.append((start, time.perf_counter()))
        return [CaseResult(r["case_id"], "created") for r in records]


async def _client(intake: CaseIntake, actor: str, name: str, rounds: int, start: float = 0.0) -> None:
    """One caller that sends its next case as soon as the previous one is answered."""
    await asyncio.sleep(start)
    for i in range(rounds):
        result = await intake.submit("p", {"case_id": f"{name}-{i}"}, actor)
        assert result.case_id == f"{name}-{i}"


def test_callers_answered_by_one_group_join_the_group_waiting_behind_it() -> None:
    intake = RecordingIntake()

    async def scenario() -> None:
        # Three callers start together; a fourth arrives while their group is being decided.
        await asyncio.gather(
            *(_client(intake, "intake", f"a{k}", rounds=2) for k in range(3)),
            _client(intake, "intake", "late", rounds=1, start=WINDOW + DECIDE / 3),
        )

    asyncio.run(scenario())
    sizes = [len(ids) for _, ids in intake.groups]
    # The first three callers' second cases join the late caller's waiting group: two groups, not
    # three (without the extra gathering they came one group later, after the late one).
    assert sizes == [3, 4]
    assert sorted(intake.groups[1][1]) == ["a0-1", "a1-1", "a2-1", "late-0"]


def test_a_group_of_another_submitter_does_not_wait_again() -> None:
    window = 0.2  # the gap a second wait would leave between the two groups
    intake = RecordingIntake(window)

    async def scenario() -> None:
        await asyncio.gather(
            _client(intake, "one", "x", rounds=1),
            _client(intake, "two", "y", rounds=1, start=DECIDE / 3),  # its window ends in "one"'s turn
        )

    asyncio.run(scenario())
    assert [actor for actor, _ in intake.groups] == ["one", "two"]
    (_, first_done), (second_start, _) = intake.spans
    # "two" waited for "one"'s group, then went straight on: its callers had nothing on the way.
    assert second_start - first_done < window / 2
