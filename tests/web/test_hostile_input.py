"""Every page, every query parameter, form field and path segment, each person: hostile values get
a page that says what is wrong (or is ignored), never a 5xx or a stack trace.

The routes are read from the page routers themselves (`web.page_routers`), so a page added later
is covered the day it is added (the API has its schemathesis run; pages are not in the OpenAPI
document).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from decision_review.web import page_routers

PEOPLE = ["ana", "cora", "rita", "adam"]
HOSTILE = [
    "", " ", "x" * 5000, "-1", "99999999999999999999999", "1e309", "nan", "\u202e", "<script>x</script>",
    "../../etc/passwd", "%", "'", "[]", "2026-13-45", "０１２", "0x10", "a,b",
]  # fmt: skip
PATH_HOSTILE = ["..", "%2e%2e", "x" * 300, "-0", "1.5", "00001", " ", "<b>", "\u202e"]
GOOD_PATH = {
    "product": "german_credit",
    "case_id": "GC-0188",
    "version": "1",
    "run_id": "20260101T000000Z-deadbeef",
}
SESSION = {"/sign-in", "/sign-out"}  # signing out mid-test would leave the rest untested
ROUTES = [
    (route, method)
    for router in page_routers()
    for route in router.routes
    if route.path not in SESSION
    for method in sorted(route.methods)
]


def _address(route, **values: str) -> str:
    url = route.path
    for param in route.dependant.path_params:
        url = url.replace(
            "{" + param.alias + "}", quote(values.get(param.alias, GOOD_PATH[param.alias]), safe="")
        )
    return url


def _send(client, method: str, url: str, *, query=None, form=None):
    return client.get(url, params=query) if method == "GET" else client.post(url, data=form or {})


@pytest.mark.parametrize(("route", "method"), ROUTES, ids=[f"{m} {r.path}" for r, m in ROUTES])
def test_no_page_answers_5xx_to_hostile_values(pages, route, method):
    clients = [pages.client(person) for person in PEOPLE]
    fields = [p.alias for p in route.dependant.query_params] or [p.alias for p in route.dependant.body_params]
    tries = [(None, None, None)]
    tries += [(field, value, None) for field in fields for value in HOSTILE]
    tries += [(None, None, {p.alias: value}) for p in route.dependant.path_params for value in PATH_HOSTILE]
    failures = []
    for field, value, path_values in tries:
        url = _address(route, **(path_values or {}))
        values = {field: value} if field else {}
        for person, client in zip(PEOPLE, clients, strict=True):
            form = dict.fromkeys(fields, "1") | values
            response = _send(client, method, url, query=values or None, form=form)
            if response.status_code >= 500 or "Traceback" in response.text:
                failures.append((person, url, field, (value or "")[:20], response.status_code))
    assert not failures, failures[:10]
