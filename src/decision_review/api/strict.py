"""What an endpoint does not take is refused, not ignored: unknown query parameters, and a body
sent to an endpoint that takes none.

Why: FastAPI ignores both. A misspelt filter (`/queue?priority=2` for `max_priority`) answered
with the whole, unfiltered queue, and `POST /audit/verify` with `{"first_seq": 10}` verified the
whole chain while the caller believed they had asked for a range; neither could tell. Every API
router carries `refuse_what_is_not_taken` as a dependency. What an endpoint takes is read from
the OpenAPI document, the same description the API's docs show callers.

A NUL character (U+0000) anywhere in the path, the query, a JSON body or a form is refused too
(`refuse_nul`, also used by the web pages): PostgreSQL can store it in no text or JSONB column,
so it failed there with a 500 while SQLite kept it. Refused at the door, on every store alike.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request

from decision_review.errors import InvalidInput

EMPTY_BODIES = {b"", b"{}", b"null"}  # what HTTP clients send by default with a bare POST
NUL = "\x00"
ESCAPED_NUL = b"\\u0000"  # how JSON writes a NUL inside a string


@dataclass(frozen=True, slots=True)
class _Takes:
    query: frozenset[str]
    body: bool


async def refuse_what_is_not_taken(request: Request) -> None:
    """422 naming each query parameter the endpoint does not take (with the closest it does), or
    the body of a call to an endpoint that takes none, or a NUL character (`refuse_nul`)."""
    await refuse_nul(request)
    route = request.scope.get("route")
    takes = documented_inputs(request.app).get((getattr(route, "path", None), request.method.lower()))
    if takes is None:  # not in the OpenAPI document: nothing to hold it to
        return
    if request.scope.get("query_string"):
        _check_query(set(request.query_params), takes.query)
    if not takes.body and request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        body = (await request.body()).strip()
        if body not in EMPTY_BODIES:
            shown = body[:60].decode("utf-8", "replace")
            raise InvalidInput(
                f"this endpoint takes no body, and the request sent one ({shown!r}"
                f"{'...' if len(body) > 60 else ''}); send none"
            )


async def refuse_nul(request: Request) -> None:
    """422 when the path, the query, a JSON body or a submitted form holds a NUL character."""
    for name, value in request.path_params.items():
        if NUL in str(value):
            raise InvalidInput(f"path parameter {name!r} {_NUL_PROBLEM}")
    query = request.scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:  # parsed only then: most calls have no query at all
        for name, value in request.query_params.multi_items():
            if NUL in name or NUL in value:
                raise InvalidInput(f"query parameter {name!r} {_NUL_PROBLEM}")
    media = media_type(request)
    if is_json(media):
        body = await request.body()
        if has_escaped_nul(body):
            raise InvalidInput(f"{_nul_place(body)} {_NUL_PROBLEM}")
    elif media == "application/x-www-form-urlencoded":
        for name, value in (await request.form()).multi_items():
            if isinstance(value, str) and NUL in value:
                raise InvalidInput(f"form field {name!r} {_NUL_PROBLEM}")


_NUL_PROBLEM = "holds a NUL character (U+0000), which no text can hold here; remove it"


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, in lower case ("" when none was sent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    """Whether FastAPI reads a body of this media type as JSON (application/json or */*+json)."""
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def has_escaped_nul(body: bytes) -> bool:
    """Whether JSON text holds a NUL in some string: an escape `\\u0000` whose backslash is not
    itself escaped (`\\\\u0000` is a backslash followed by the letters u0000). Unescaped control
    characters are not valid JSON, so the escape is the only way a NUL gets in."""
    start = body.find(ESCAPED_NUL)
    while start != -1:
        before = start
        while before > 0 and body[before - 1] == 0x5C:  # backslashes right before this one
            before -= 1
        if (start - before) % 2 == 0:
            return True
        start = body.find(ESCAPED_NUL, start + 1)
    return False


def _nul_place(body: bytes) -> str:
    """Where in a JSON body the first text holding a NUL is (`cases[3].purpose`), for the message."""
    try:
        stack: list[tuple[str, Any]] = [("", json.loads(body))]
    except ValueError:
        return "a text in the body"
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and NUL in value:
            return f"body field {path!r}" if path else "the body"
        if isinstance(value, dict):
            for key, sub in reversed(value.items()):
                if NUL in key:
                    return f"a key in body field {path!r}" if path else "a key of the body"
                stack.append((f"{path}.{key}" if path else key, sub))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", sub) for i, sub in reversed(list(enumerate(value))))
    return "a text in the body"


def _check_query(sent: set[str], known: frozenset[str]) -> None:
    unknown = sorted(sent - known)
    if not unknown:
        return
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    takes = ", ".join(sorted(known)) if known else "none"
    raise InvalidInput(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(named)}; "
        f"this endpoint takes: {takes}"
    )


def documented_inputs(app: FastAPI) -> dict[tuple[str, str], _Takes]:
    """(path template, method) -> what its OpenAPI entry says it takes; built once per app (a
    server builds it at startup: the OpenAPI document takes ~0.2 s, too long for a first call)."""
    table = getattr(app.state, "documented_inputs", None)
    if table is None:
        table = {
            (path, method): _Takes(
                query=frozenset(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"),
                body="requestBody" in operation,
            )
            for path, operations in app.openapi()["paths"].items()
            for method, operation in operations.items()
            if isinstance(operation, dict)
        }
        app.state.documented_inputs = table
    return table
