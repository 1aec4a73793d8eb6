"""Users and tokens: stored hashed, revocable, refused once disabled; refusals audited without a
write storm; the CLI prints a token once and exits 2 with a message on bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from sqlalchemy import select

from decision_review.audit.chain import EventKind
from decision_review.audit.log import find_events
from decision_review.store.db import make_engine, make_session_factory
from decision_review.store.tables import ApiToken
from decision_review.users.auth_events import AuthEvents
from tests.fixtures.api import ROOT


def test_tokens_are_stored_only_as_their_hash(api):
    created = api.as_("adam").post("/api/v1/users", json={"name": "una", "role": "underwriter"}).json()
    token = created["token"]
    with api.services.db.read() as session:
        rows = session.execute(select(ApiToken.token_hash, ApiToken.prefix)).all()
    assert (hashlib.sha256(token.encode()).hexdigest(), token[:11]) in rows
    assert all(token not in (h, p) for h, p in rows)
    listed = api.as_("adam").get("/api/v1/users").json()
    assert token not in str(listed) and any(u["name"] == "una" for u in listed)
    me = api.anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "underwriter" and "claim, decide, escalate, override, approve" in me["permissions"]


def test_revoked_tokens_and_disabled_users_are_refused(api):
    adam = api.as_("adam")
    first = adam.post("/api/v1/users", json={"name": "vic", "role": "compliance"}).json()
    second = adam.post("/api/v1/users/vic/tokens").json()

    def status(token: str) -> int:
        return api.anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(first["token"]) == status(second["token"]) == 200
    api.as_("adam").delete(f"/api/v1/users/vic/tokens/{first['prefix']}")
    assert (status(first["token"]), status(second["token"])) == (401, 200)
    api.as_("adam").post("/api/v1/users/vic/disable")
    assert status(second["token"]) == 401
    kinds = [
        e["kind"]
        for e in api.as_("cora").get("/api/v1/audit/events", params={"limit": 1000}).json()["events"]
    ]
    for kind in ("user_added", "token_issued", "token_revoked", "user_disabled", "auth_failed"):
        assert kind in kinds


def test_identical_refusals_are_audited_once_per_interval_with_a_count(sqlite_api_db):
    url, _ = sqlite_api_db
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    now = [1000.0]
    recorder = AuthEvents(sessions.begin, interval_seconds=60, clock=lambda: now[0])
    payload = {"reason": "unknown token", "endpoint": "/x"}
    written = [recorder.record(EventKind.AUTH_FAILED, "anonymous", payload, ("k",)) for _ in range(50)]
    assert written == [True] + [False] * 49
    now[0] += 61
    assert recorder.record(EventKind.AUTH_FAILED, "anonymous", payload, ("k",))
    assert recorder.record(EventKind.AUTH_FAILED, "anonymous", payload, ("another key",))
    with sessions() as session:
        events = find_events(session, kind=EventKind.AUTH_FAILED)
    assert [e.payload["repeats_since_last"] for e in events] == [0, 49, 0]
    engine.dispose()


def _cli(*args: str, env_home) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "DR_HOME": str(env_home)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "decision_review.cli.main", "users", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_the_cli_prints_a_token_once_and_names_bad_input(tmp_path):
    added = _cli("add", "ops", "--role", "admin", env_home=tmp_path)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert token.startswith("dr_") and len(token) > 40
    listed = _cli("list", env_home=tmp_path)
    assert "ops: admin, all product lines" in listed.stdout and token not in listed.stdout
    bad = _cli("add", "x", "--role", "boss", env_home=tmp_path)
    assert bad.returncode == 2 and "role 'boss' is not a role" in bad.stderr and "Traceback" not in bad.stderr
    twice = _cli("add", "ops", "--role", "admin", env_home=tmp_path)
    assert twice.returncode == 2 and "already exists" in twice.stderr
    revoked = _cli("revoke-token", "ops", "--all", env_home=tmp_path)
    assert revoked.returncode == 0 and "revoked 1 token" in revoked.stdout


def test_a_user_is_refused_a_name_that_differs_only_in_case_or_a_product_line_that_is_not_there(api):
    """'Ana' beside 'ana' would read as one person in the audit log; a user limited to a mistyped
    product line could see nothing, and nobody would be told."""
    adam = api.as_("adam")
    before = len(adam.get("/api/v1/users").json())
    twin = adam.post("/api/v1/users", json={"name": "Ana", "role": "underwriter"})
    assert twin.status_code == 409 and "a user named 'ana' already exists" in twin.json()["message"]
    typo = adam.post(
        "/api/v1/users", json={"name": "uma", "role": "underwriter", "products": ["german_credti"]}
    )
    assert typo.status_code == 422, typo.text
    assert "no product line 'german_credti'" in typo.json()["message"]
    assert "fraud_alerts, german_credit" in typo.json()["message"]
    assert len(adam.get("/api/v1/users").json()) == before
    limited = adam.post(
        "/api/v1/users", json={"name": "uma", "role": "underwriter", "products": ["fraud_alerts"]}
    )
    assert limited.status_code == 201, limited.text
