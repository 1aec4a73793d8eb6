"""Signing in and out: the cookie's flags, failed sign-ins audited and paused, sessions that end
when the password changes or the user is disabled, CSRF on the sign-in form, no open redirect."""

from __future__ import annotations

import os
import stat
import time

from sqlalchemy import select

from decision_review.audit.log import find_events
from decision_review.store.tables import User
from decision_review.users.service import disable_user, set_password
from decision_review.web.session import SESSION_COOKIE, PageSession, Signer, session_secret
from tests.web.support import CSRF, PASSWORD


def _set_cookie(response) -> str:
    return next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )


def test_sign_in_sets_an_httponly_samesite_cookie_and_lands_on_the_role_page(pages):
    client = pages.client()
    response = client.sign_in("ana")
    assert response.status_code == 303 and response.headers["location"] == "/queue"
    cookie = _set_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie and "max-age=" in cookie
    assert "secure" not in cookie  # plain http in this test; see the https test below
    assert client.get("/queue").status_code == 200
    assert pages.client().sign_in("cora").headers["location"] == "/overview"


def test_the_cookie_is_secure_over_https(pages):
    client = pages.client(base_url="https://testserver")
    response = client.sign_in("ana")
    assert response.status_code == 303
    assert "secure" in _set_cookie(response).lower()


def _auth_failures(pages) -> list:
    with pages.services.db.read() as session:
        return find_events(session, kind="auth_failed", limit=1000)


def test_a_wrong_password_is_refused_the_same_way_as_an_unknown_name_and_audited(pages):
    wrong = pages.client().sign_in("ana", "not the password at all")
    unknown = pages.client().sign_in("nobody-here", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The name or password is not right" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    reasons = [e.payload["reason"] for e in _auth_failures(pages)]
    assert "wrong password for user ana" in reasons and "unknown user" in reasons
    assert all(e.actor == "anonymous" and e.payload["via"] == "web" for e in _auth_failures(pages))


def test_repeated_failures_pause_sign_ins_for_that_name(pages):
    client = pages.client()
    for _ in range(5):
        assert client.sign_in("bob", "wrong password guess").status_code == 401
    paused = client.sign_in("bob")  # the right password, but sign-ins for bob are paused now
    assert paused.status_code == 401
    assert any(
        e.payload["reason"] == "sign-ins paused after repeated failures" for e in _auth_failures(pages)
    )
    assert pages.client().sign_in("ana").status_code == 303  # the address is paused only after more


def test_the_sign_in_form_needs_its_own_csrf_token(pages):
    client = pages.client()
    client.client.get("/sign-in")
    response = client.client.post(
        "/sign-in", data={"name": "ana", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403 and "expired" in response.text
    fresh = pages.client()
    no_cookie = fresh.client.post("/sign-in", data={"name": "ana", "password": PASSWORD, "csrf_token": "x"})
    assert no_cookie.status_code == 403


def test_no_open_redirect_after_sign_in(pages):
    # "/<tab>/evil.example": browsers drop tabs and newlines from a URL, leaving "//evil.example"
    targets = ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/x")
    for target in targets:
        client = pages.client()
        token = CSRF.search(client.client.get("/sign-in").text).group(1)
        response = client.client.post(
            "/sign-in", data={"name": "ana", "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert response.status_code == 303 and response.headers["location"] == "/queue", target
    response = pages.client().client.get("/sign-in?next=/cases/german_credit/GC-0188")
    assert 'name="next" value="/cases/german_credit/GC-0188"' in response.text


def test_a_page_without_a_session_goes_to_sign_in_and_back(pages):
    response = pages.client().client.get("/cases/german_credit/GC-0188?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fcases%2Fgerman_credit%2FGC-0188%3Fx%3D1"


def _replace(jar, value: str) -> None:
    """Send only this session cookie (setting it beside the server's would send both)."""
    jar.clear()
    jar.set(SESSION_COOKIE, value)


def test_a_tampered_or_expired_cookie_is_no_session(pages):
    client = pages.client("ana")
    jar = client.client.cookies
    original = jar.get(SESSION_COOKIE)
    body, mac = original.split(".")
    _replace(jar, body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac)
    assert client.client.get("/queue").status_code == 303
    signer = pages.app.state.web.signer
    with pages.services.db.read() as session:
        user = session.scalars(select(User).where(User.name == "ana")).one()
        from decision_review.users.service import password_fingerprint

        fingerprint = password_fingerprint(user.password_hash)
    expired = PageSession(user.id, "ana", fingerprint, "csrf", int(time.time()) - 1)
    _replace(jar, signer.sign("session", expired.payload()))
    assert client.client.get("/queue").status_code == 303
    alive = PageSession(user.id, "ana", fingerprint, "csrf", int(time.time()) + 60)
    _replace(jar, signer.sign("session", alive.payload()))
    assert client.client.get("/queue").status_code == 200
    _replace(jar, signer.sign("flash", alive.payload()))  # signed, but for another purpose
    assert client.client.get("/queue").status_code == 303


def test_a_new_password_or_disabling_the_user_ends_their_sessions(pages):
    ana, bob = pages.client("ana"), pages.client("bob")
    with pages.services.db.write() as session:
        set_password(session, "ana", "another good password", actor="test")
        disable_user(session, "bob", actor="test")
    assert ana.client.get("/queue").status_code == 303
    assert bob.client.get("/queue").status_code == 303
    assert pages.client().sign_in("ana", "another good password").status_code == 303
    assert pages.client().sign_in("bob").status_code == 401


def test_sign_out_needs_the_session_token_and_then_forgets_the_session(pages):
    client = pages.client("ana")
    refused = client.post("/sign-out", {"csrf_token": "not it"}, csrf=False)
    assert refused.status_code == 303 and client.client.get("/queue").status_code == 200
    done = client.post("/sign-out")
    assert done.status_code == 303 and done.headers["location"] == "/sign-in"
    assert client.client.get("/queue").status_code == 303


def test_the_session_key_is_generated_once_and_kept_private(tmp_path):
    from decision_review.settings import Settings

    settings = Settings(home=tmp_path)
    first = session_secret(settings)
    assert session_secret(settings) == first and len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "session.key").st_mode)
    assert mode == 0o600
    assert session_secret(Settings(home=tmp_path, session_secret="x" * 40)) == b"x" * 40


def test_signatures_bind_the_payload_and_the_purpose():
    signer = Signer(b"k" * 32)
    token = signer.sign("session", {"a": 1, "exp": time.time() + 60})
    assert signer.unsign("session", token)["a"] == 1
    assert signer.unsign("flash", token) is None
    assert Signer(b"j" * 32).unsign("session", token) is None
    body, mac = token.split(".")
    for i in range(len(body)):
        changed = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
        assert signer.unsign("session", f"{changed}.{mac}") is None
