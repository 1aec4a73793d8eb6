"""Query parameters an endpoint does not take are refused, not ignored.

Why: FastAPI ignores a query parameter it does not know, so a misspelt filter
(`/queue?priority=2` for `max_priority`) answered with the whole, unfiltered queue, and the caller
could not tell. Every API router carries `known_query_parameters` as a dependency; what an
endpoint takes is read from the OpenAPI document, the same list the API's docs show callers.
"""

from __future__ import annotations

import difflib

from fastapi import FastAPI, Request

from decision_review.errors import InvalidInput


async def known_query_parameters(request: Request) -> None:
    """422 naming each query parameter the endpoint does not take (with the closest it does)."""
    if not request.query_params:  # the usual call: nothing to check
        return
    route = request.scope.get("route")
    known = _documented(request.app).get((getattr(route, "path", None), request.method.lower()))
    if known is None:  # not in the OpenAPI document: nothing to hold it to
        return
    unknown = sorted(set(request.query_params) - known)
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


def _documented(app: FastAPI) -> dict[tuple[str, str], frozenset[str]]:
    """(path template, method) -> the query parameters its OpenAPI entry lists; built once per app."""
    table = getattr(app.state, "query_parameters", None)
    if table is None:
        table = {
            (path, method): frozenset(
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
            )
            for path, operations in app.openapi()["paths"].items()
            for method, operation in operations.items()
            if isinstance(operation, dict)
        }
        app.state.query_parameters = table
    return table
