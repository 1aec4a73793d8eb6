"""Page sessions: a signed cookie, the CSRF token it carries, and the key that signs both.

Why a signed cookie and no session table: the pages need to know who is calling and nothing else;
an HMAC-SHA256 signature over a small JSON payload (user id, name, the fingerprint of their
password hash, a CSRF token, issue and expiry times) lets every API worker check a request without
a database write. Each request still reads the user's row (`users.service.signed_in_principal`), so
disabling a user or changing their password ends their sessions at once; signing out deletes the
cookie (a copied cookie stays valid until it expires, `SESSION_HOURS`).

The cookie is HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site POSTs) and Secure
when the page is served over https. Every form carries the session's CSRF token, and every POST
checks it; the sign-in form, before any session exists, uses a short-lived signed cookie of its own
with the same token in the form (double submit).

The key: `Settings.session_secret` when set (the same on every worker and server), otherwise a
random key generated once and kept in `<home>/session.key` (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decision_review.settings import Settings

SESSION_COOKIE = "dr_session"
SIGNIN_COOKIE = "dr_signin"
FLASH_COOKIE = "dr_flash"
SESSION_HOURS = 10  # a working day; sign in again the next morning
SIGNIN_FORM_MINUTES = 30
MAX_COOKIE = 4096
KEY_FILE = "session.key"
MIN_SECRET_BYTES = 32


def session_secret(settings: Settings) -> bytes:
    """The key that signs cookies: the setting, or the key file under `home` (created once, 0600)."""
    if settings.session_secret:
        secret = settings.session_secret.encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            from decision_review.errors import InvalidInput

            raise InvalidInput(
                f"DR_SESSION_SECRET is {len(secret)} characters long; use at least {MIN_SECRET_BYTES} "
                "random characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return secret
    path = Path(settings.home) / KEY_FILE
    existing = _read_key(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place: a worker racing us either finds
    # no file or a complete one, and exactly one key wins.
    fd, temporary = tempfile.mkstemp(prefix=".session-key-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    key = _read_key(path)
    assert key is not None
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if len(text) < MIN_SECRET_BYTES:
        from decision_review.errors import InvalidInput

        raise InvalidInput(f"{path}: the session key is too short; delete the file to generate a new one")
    return text.encode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks small JSON payloads: ``base64(payload).base64(hmac)``; each use has its own
    purpose string mixed into the signature, so a flash cookie can never pass as a session."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, body: str) -> bytes:
        return hmac.new(self._secret, f"{purpose}\n{body}".encode("ascii"), hashlib.sha256).digest()

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{body}.{_b64(self._mac(purpose, body))}"

    def unsign(self, purpose: str, token: str | None, *, now: float | None = None) -> dict[str, Any] | None:
        """The payload if the signature holds and it has not expired (`exp`), else None."""
        if not token or len(token) > MAX_COOKIE or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            expected = self._mac(purpose, body)
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error, UnicodeError):
            return None
        if not isinstance(payload, dict):
            return None
        expires = payload.get("exp")
        if not isinstance(expires, int | float) or expires <= (now if now is not None else time.time()):
            return None
        return payload


@dataclass(frozen=True, slots=True)
class PageSession:
    """What the session cookie says (checked against the user's row on every request)."""

    user_id: int
    name: str
    fingerprint: str
    csrf: str
    expires_at: int

    @classmethod
    def new(cls, user_id: int, name: str, fingerprint: str, now: float | None = None) -> PageSession:
        now = now if now is not None else time.time()
        return cls(user_id, name, fingerprint, secrets.token_urlsafe(24), int(now + SESSION_HOURS * 3600))

    def payload(self) -> dict[str, Any]:
        return {
            "uid": self.user_id,
            "name": self.name,
            "fp": self.fingerprint,
            "csrf": self.csrf,
            "exp": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None) -> PageSession | None:
        if payload is None:
            return None
        try:
            return cls(
                int(payload["uid"]),
                str(payload["name"]),
                str(payload["fp"]),
                str(payload["csrf"]),
                int(payload["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def cookie_options(secure: bool, max_age: int | None) -> dict[str, Any]:
    """The flags every cookie of the pages carries."""
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/", "max_age": max_age}


class SignInLimiter:
    """Pauses sign-ins for a key (a name, or an address) after repeated failures.

    Why: a password can be guessed, and scrypt alone only slows each guess. After `limit` failures
    within `window` seconds, further attempts for that key are refused (without checking the
    password) until the oldest failure leaves the window. Per worker process, in memory: with N
    workers an attacker gets at most N times `limit` guesses per window.
    """

    def __init__(self, limit: int = 5, window: float = 900.0, clock: Any = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def paused(self, *keys: str) -> bool:
        now = self._clock()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # bounded memory under a flood of names
                for old in [k for k, v in self._failures.items() if not v][:5_000]:
                    del self._failures[old]

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
