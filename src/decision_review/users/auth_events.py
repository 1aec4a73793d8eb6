"""Auditing failed logins (401) and forbidden calls (403) without letting a flood flood the log.

Every refusal matters to a security review, but a script hammering the API with a bad token must
not turn the hash-chained log into a write storm (each append takes the chain's lock). So the
first refusal of a kind (same event kind, actor, reason, client and endpoint) is appended at once,
and repeats within `interval` seconds are only counted: the next event of that kind carries
`repeats_since_last`. Each event stays small: who, why, which endpoint, from where.

The counting is per API worker process, so with N workers a flood yields at most N events per
interval per kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from decision_review.audit.chain import EventKind
from decision_review.audit.log import NewEvent, append

MAX_KEYS = 10_000  # forget the oldest keys beyond this (a flood of distinct keys stays bounded)


@dataclass
class _Seen:
    at: float
    repeats: int = 0


class AuthEvents:
    """Appends `auth_failed` / `access_denied` events, throttled as described above."""

    def __init__(
        self,
        write: Callable[[], AbstractContextManager[Session]],
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._interval = interval_seconds
        self._clock = clock
        self._seen: dict[tuple[Any, ...], _Seen] = {}
        self._lock = threading.Lock()

    def record(self, kind: EventKind, actor: str, payload: dict[str, Any], key: tuple[Any, ...]) -> bool:
        """Append the event unless an identical one was appended within the interval; True if appended."""
        now = self._clock()
        full_key = (kind, actor, *key)
        with self._lock:
            seen = self._seen.get(full_key)
            if seen is not None and now - seen.at < self._interval:
                seen.repeats += 1
                return False
            repeats = seen.repeats if seen is not None else 0
            self._seen[full_key] = _Seen(now)
            if len(self._seen) > MAX_KEYS:
                for old in list(self._seen)[: MAX_KEYS // 10]:
                    del self._seen[old]
        with self._write() as session:
            append(session, [NewEvent(kind, actor=actor, payload={**payload, "repeats_since_last": repeats})])
        return True
