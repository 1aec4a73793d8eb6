"""Tokens that passed authentication a moment ago, so a burst of calls with one token costs one lookup.

Why: looking a token up costs a database read in a worker thread on every call; under load that
was about a quarter of an API worker's time for a single-case submission. A token is still
checked on every call: against the database at most every `ttl` seconds, and against this cache
in between. What the cache costs: a token revoked, or a user disabled or given another role, by
another worker or by the CLI is still honoured by this worker for at most `ttl` seconds (one
second by default, `DR_AUTH_CACHE_SECONDS`; 0 turns the cache off). A change made through this
worker's own API clears the cache at once. Refused tokens are never cached: each refusal is
looked up and audited.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from decision_review.users.service import Principal, hash_token


class TokenCache:
    """Principals of recently authenticated tokens, keyed by the token's sha256, each for `ttl` seconds."""

    def __init__(
        self, ttl_seconds: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        """The token's principal if it was authenticated less than `ttl` seconds ago."""
        if self.ttl <= 0:
            return None
        key = hash_token(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        """Remember a token that the database has just accepted (the oldest entry goes when full)."""
        if self.ttl <= 0:
            return
        key = hash_token(token)
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl, principal)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every token: after this worker revokes a token or disables a user."""
        with self._lock:
            self._entries.clear()
