"""The token cache: a token accepted a moment ago is trusted for at most `ttl` seconds; a refusal is
never cached; a revocation through this worker's API takes effect at once, one made elsewhere
within `ttl`."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from decision_review.store.db import make_engine, make_session_factory
from decision_review.users.service import Principal, revoke_tokens
from decision_review.users.token_cache import TokenCache
from tests.fixtures.api import build_app

ANA = Principal(1, "ana", "underwriter", (), 7)  # type: ignore[arg-type]


def test_an_entry_lasts_ttl_seconds_and_ttl_zero_turns_the_cache_off():
    now = [100.0]
    cache = TokenCache(2.0, clock=lambda: now[0])
    cache.put("dr_a", ANA)
    assert cache.get("dr_a") == ANA and cache.get("dr_b") is None
    now[0] = 101.9
    assert cache.get("dr_a") == ANA
    now[0] = 102.0
    assert cache.get("dr_a") is None
    off = TokenCache(0)
    off.put("dr_a", ANA)
    assert off.get("dr_a") is None


def test_the_oldest_entry_goes_when_full_and_clear_forgets_all():
    cache = TokenCache(60, max_entries=2)
    for token in ("dr_1", "dr_2", "dr_3"):
        cache.put(token, ANA)
    assert [cache.get(t) for t in ("dr_1", "dr_2", "dr_3")] == [None, ANA, ANA]
    cache.clear()
    assert cache.get("dr_3") is None


def _status(client: TestClient, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_revoked_elsewhere_is_honoured_until_the_ttl_ends(sqlite_api_db, tmp_path, api_catalog):
    url, tokens = sqlite_api_db
    ttl = 1.0
    app = build_app(url, tmp_path, api_catalog, auth_cache_seconds=ttl)
    engine = make_engine(url)
    with TestClient(app) as client:
        assert _status(client, tokens["ana"]) == 200  # looked up, then cached
        cached_at = time.monotonic()
        with make_session_factory(engine).begin() as session:  # as the CLI or another worker would
            assert revoke_tokens(session, "ana", actor="ops")
        status = _status(client, tokens["ana"])
        if time.monotonic() - cached_at < ttl:
            assert status == 200  # the cache answered: no lookup
        while _status(client, tokens["ana"]) == 200:
            assert time.monotonic() - cached_at < ttl + 0.5, "still accepted well after the cache's ttl"
            time.sleep(0.05)
    engine.dispose()


def test_without_the_cache_a_revocation_elsewhere_is_refused_on_the_next_call(
    sqlite_api_db, tmp_path, api_catalog
):
    url, tokens = sqlite_api_db
    app = build_app(url, tmp_path, api_catalog, auth_cache_seconds=0)
    engine = make_engine(url)
    with TestClient(app) as client:
        assert _status(client, tokens["ana"]) == 200
        with make_session_factory(engine).begin() as session:
            revoke_tokens(session, "ana", actor="ops")
        assert _status(client, tokens["ana"]) == 401
    engine.dispose()


def test_refused_tokens_are_not_cached(sqlite_api):
    assert _status(sqlite_api.client, "dr_" + "x" * 43) == 401
    assert sqlite_api.services.tokens.get("dr_" + "x" * 43) is None
