"""How every error reaches an API caller: a status code and one JSON shape, never a stack trace.

    {"error": "conflict", "message": "case 'c-1' is claimed by ana until ...", "problems": [...]}

`message` says what was wrong and what to do; `problems` (when there are several) lists each one
with where it is (`loc`: the JSON path, or `field`, or `line` for a policy file). The mapping:

| cause | status |
|---|---|
| malformed JSON, unreadable upload | 400 |
| no or bad bearer token | 401 (with `WWW-Authenticate: Bearer`) |
| role or product line not allowed | 403 |
| unknown case, product, policy version, user | 404 |
| state conflict (claimed by another, already decided, duplicate id with other inputs) | 409 |
| body larger than `DR_MAX_BODY_BYTES` | 413 |
| wrong types, unknown or missing fields, invalid values | 422 |
| a model file that fails its digest check | 503 |
| anything else (a bug): logged with a reference, the caller sees only the reference | 500 |
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from decision_review.api.strict import is_json, media_type
from decision_review.errors import Conflict, DecisionReviewError, IntegrityError, InvalidInput, NotFound

log = logging.getLogger("decision_review.api")


class Unauthenticated(Exception):
    """No usable credentials (401)."""


class Forbidden(Exception):
    """Authenticated, but this role or product line may not do this (403)."""


STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
                422: "invalid_input", 500: "internal_error", 503: "unavailable"}  # fmt: skip


def error_response(
    status: int,
    message: str,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": STATUS_CODES.get(status, "error"), "message": message}
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=status, headers=headers)


def _problems_of(exc: Exception) -> list[dict[str, Any]] | None:
    problems = getattr(exc, "problems", None)
    if not problems:
        return None
    out = []
    for p in problems:
        if isinstance(p, dict):
            out.append(p)
        else:  # a policy Problem
            out.append({"line": p.line, "rule_id": p.rule_id, "message": p.message})
    return out


def _validation_problem(error: dict[str, Any]) -> dict[str, Any]:
    loc = [str(part) for part in error.get("loc", ())]
    where = ".".join(loc[1:] if loc and loc[0] in {"body", "query", "path", "header"} else loc)
    if not where and loc == ["body"]:  # the body as a whole (missing, or not an object)
        where = "body"
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        message = "is required"
    elif error.get("type") == "extra_forbidden":
        message = "is not a known field"
    return {"loc": loc, "message": f"{where}: {message}" if where else message}


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    json_errors = [e for e in errors if e.get("type") == "json_invalid"]
    if json_errors:
        ctx = json_errors[0].get("ctx") or {}
        detail = ctx.get("error") or json_errors[0].get("msg")
        loc = json_errors[0].get("loc", ())
        position = f" at character {loc[1]}" if len(loc) > 1 else ""
        return error_response(400, f"the body is not valid JSON: {detail}{position}")
    problems = [_validation_problem(e) for e in errors[:50]]
    summary = "; ".join(p["message"] for p in problems[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    media = media_type(request)
    if not is_json(media) and any(e.get("loc") == ("body",) and e.get("type") != "missing" for e in errors):
        sent = f"as {media}" if media else "with no Content-Type"
        more += f" (the body was sent {sent}; send JSON with Content-Type: application/json)"
    return error_response(422, f"the request does not fit: {summary}{more}", problems)


async def _domain_error(_: Request, exc: DecisionReviewError) -> JSONResponse:
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict):
        status = 409
    elif isinstance(exc, IntegrityError):
        status = 503
    else:
        status = 422 if isinstance(exc, InvalidInput) else 400
    return error_response(status, str(exc), _problems_of(exc))


async def _unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
    return error_response(401, str(exc), headers={"WWW-Authenticate": "Bearer"})


async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
    return error_response(403, str(exc))


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; the API is described at /docs"
    if exc.status_code == 405:
        message = "this endpoint does not take that method; see /docs"
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):  # FastAPI's body parsing
        message = "the body is not usable JSON: it nests too deeply"
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        message = f"the body is not UTF-8 text, as JSON must be: {exc.__cause__}"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("internal error %s on %s %s", reference, request.method, request.url.path)
    return error_response(500, f"internal error (reference {reference}); nothing was changed by this request")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the shape above."""
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DecisionReviewError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(Unauthenticated, _unauthenticated)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
