"""The role matrix, endpoint by endpoint: each role gets through (any status but 401/403) exactly
where the matrix allows it, 403 elsewhere; nobody gets in without a token; a user limited to a
product line is refused the others. The table below is the specification (docs/api.md prints the
same matrix); a test also checks it covers every route the app has."""

from __future__ import annotations

import pytest

from tests.api.golden import case

G = "/api/v1/products/german_credit"
F = "/api/v1/products/fraud_alerts"
ALL = {"intake", "underwriter", "compliance", "risk", "admin"}
USER_OF = {"intake": "intake", "underwriter": "ana", "compliance": "cora", "risk": "rita", "admin": "adam"}
DECIDE = {"outcome": "approve", "reason_codes": ["DATA_CORRECTED"], "note": "n"}
READERS = {"underwriter", "compliance", "risk"}
UW = {"underwriter"}
P = "/api/v1/products/{product}"
C = "/api/v1/products/{product}/cases/{case_id}"

# (method, path template, concrete path, body, roles allowed)
MATRIX = [
    ("GET", "/api/v1/products", "/api/v1/products", None, ALL),
    ("GET", P, G, None, ALL),
    ("PUT", P + "/auto-decisions", G + "/auto-decisions", {"enabled": True, "note": "n"}, {"risk", "admin"}),
    ("GET", "/api/v1/models", "/api/v1/models", None, {"compliance", "risk"}),
    (
        "GET",
        "/api/v1/models/{name}/{version}",
        "/api/v1/models/german_credit/1",
        None,
        {"compliance", "risk"},
    ),
    ("POST", P + "/cases", G + "/cases", {"case_id": "x"}, {"intake"}),
    ("POST", P + "/cases/batch", G + "/cases/batch", {"cases": []}, {"intake"}),
    ("POST", P + "/cases/upload", G + "/cases/upload", "upload", {"intake"}),
    (
        "GET",
        C + "/decision",
        G + "/cases/none/decision",
        None,
        {"intake", "underwriter", "compliance", "risk"},
    ),
    ("GET", C, G + "/cases/none", None, READERS),
    ("POST", C + "/outcomes", G + "/cases/none/outcomes", {"bad": True}, {"intake", "underwriter"}),
    ("GET", P + "/queue", G + "/queue", None, READERS),
    ("GET", P + "/reason-codes", G + "/reason-codes", None, READERS),
    ("GET", C + "/reason-codes", G + "/cases/none/reason-codes", None, READERS),
    ("POST", C + "/claim", G + "/cases/none/claim", None, UW),
    ("POST", C + "/release", G + "/cases/none/release", None, UW),
    ("POST", C + "/decision", G + "/cases/none/decision", DECIDE, UW),
    (
        "POST",
        C + "/escalation",
        G + "/cases/none/escalation",
        {"reason_codes": ["DATA_CORRECTED"], "note": "n"},
        UW,
    ),
    (
        "POST",
        C + "/info-request",
        G + "/cases/none/info-request",
        {"reason_codes": ["DATA_CORRECTED"], "note": "n", "requested": ["payslip"]},
        UW,
    ),
    ("POST", C + "/override", G + "/cases/none/override", DECIDE, UW),
    ("POST", C + "/approval", G + "/cases/none/approval", {"grant": True, "note": "n"}, UW),
    ("GET", P + "/policies", G + "/policies", None, READERS),
    ("GET", P + "/policies/live", G + "/policies/live", None, READERS),
    ("GET", P + "/policies/{version}", G + "/policies/99", None, READERS),
    ("POST", "/api/v1/policies/lint", "/api/v1/policies/lint", {"yaml": "x: 1"}, {"compliance", "risk"}),
    ("POST", "/api/v1/policies/test", "/api/v1/policies/test", {"yaml": "x: 1"}, {"compliance", "risk"}),
    ("POST", P + "/policies", G + "/policies", {"yaml": "x: 1"}, {"risk"}),
    ("GET", "/api/v1/audit/events", "/api/v1/audit/events?limit=1", None, {"compliance"}),
    ("POST", "/api/v1/audit/verify", "/api/v1/audit/verify", None, {"compliance"}),
    ("POST", "/api/v1/audit/exports", "/api/v1/audit/exports", {"kind": "nonsense"}, {"compliance"}),
    ("GET", "/api/v1/reports/metrics", "/api/v1/reports/metrics", None, {"compliance", "risk", "admin"}),
    ("GET", "/metrics", "/metrics", None, {"compliance", "risk", "admin"}),
    ("GET", "/api/v1/webhooks", "/api/v1/webhooks", None, {"risk", "admin"}),
    ("POST", "/api/v1/webhooks", "/api/v1/webhooks", {"name": "w"}, {"risk", "admin"}),
    ("DELETE", "/api/v1/webhooks/{name}", "/api/v1/webhooks/none", None, {"risk", "admin"}),
    ("POST", "/api/v1/webhooks/{name}/test", "/api/v1/webhooks/none/test", None, {"risk", "admin"}),
    ("POST", "/api/v1/alerts/check", "/api/v1/alerts/check", None, {"risk", "admin"}),
    ("GET", "/api/v1/me", "/api/v1/me", None, ALL),
    ("GET", "/api/v1/users", "/api/v1/users", None, {"admin"}),
    ("POST", "/api/v1/users", "/api/v1/users", {"name": "x y", "role": "admin"}, {"admin"}),
    ("POST", "/api/v1/users/{name}/tokens", "/api/v1/users/nobody/tokens", None, {"admin"}),
    ("DELETE", "/api/v1/users/{name}/tokens/{prefix}", "/api/v1/users/nobody/tokens/dr_x", None, {"admin"}),
    ("POST", "/api/v1/users/{name}/disable", "/api/v1/users/nobody/disable", None, {"admin"}),
]
PUBLIC = {("GET", "/health")}


def _call(client, method: str, path: str, body):
    if body == "upload":
        return client.post(path, files={"file": ("cases.csv", b"case_id\n", "text/csv")})
    return client.request(method, path, json=body)


def test_the_matrix_covers_every_route(sqlite_api):
    paths = sqlite_api.app.openapi()["paths"]
    routes = {(method.upper(), path) for path, methods in paths.items() for method in methods}
    assert routes == {(m, t) for m, t, *_ in MATRIX} | PUBLIC


def test_every_role_gets_exactly_what_the_matrix_allows(sqlite_api):
    problems = []
    for method, template, path, body, allowed in MATRIX:
        for role, user in USER_OF.items():
            status = _call(sqlite_api.as_(user), method, path, body).status_code
            if role in allowed and status in (401, 403):
                problems.append(f"{role} {method} {template}: {status}, should be let through")
            if role not in allowed and status != 403:
                problems.append(f"{role} {method} {template}: {status}, should be 403")
    assert not problems, "\n".join(problems)


def test_no_endpoint_lets_anyone_in_without_a_valid_token(sqlite_api):
    for method, template, path, body, _ in MATRIX:
        for headers in ({}, {"Authorization": "Bearer dr_not-a-real-token"}, {"Authorization": "Basic YTpi"}):
            client = sqlite_api.anonymous
            response = client.request(method, path, json=None if body == "upload" else body, headers=headers)
            assert response.status_code == 401, f"{method} {template} with {headers}: {response.status_code}"
            assert response.headers["www-authenticate"] == "Bearer"
    assert sqlite_api.anonymous.get("/health").status_code == 200


def test_a_user_limited_to_a_product_line_is_refused_the_others(sqlite_api):
    fraud = case("fraud_alerts", "genuine_grocery_at_home", "limited-1")
    assert sqlite_api.as_("frank").post(f"{F}/cases", json=fraud).status_code == 201
    assert (
        sqlite_api.as_("frank").post(f"{G}/cases", json=case("german_credit", "GC-0001")).status_code == 403
    )
    fiona = sqlite_api.as_("fiona")
    assert fiona.get(f"{F}/queue").status_code == 200
    for path in (f"{G}/queue", f"{G}/cases/GC-0001", f"{G}/policies"):
        assert fiona.get(path).status_code == 403, path
    assert fiona.post(f"{G}/cases/none/claim").status_code == 403
    assert [p["product"] for p in fiona.get("/api/v1/products").json()] == ["fraud_alerts"]
    carl = sqlite_api.as_("carl")
    assert carl.get("/api/v1/audit/events", params={"product": "german_credit"}).status_code == 403
    events = carl.get("/api/v1/audit/events").json()["events"]
    assert events and {e["product"] for e in events} == {"fraud_alerts"}


@pytest.mark.parametrize("kind", ["auth_failed", "access_denied"])
def test_refusals_are_audited(sqlite_api, kind):
    if kind == "auth_failed":
        sqlite_api.anonymous.get(f"{G}/queue", headers={"Authorization": "Bearer dr_wrong"})
    else:
        sqlite_api.as_("intake").get(f"{G}/queue")
    events = sqlite_api.as_("cora").get("/api/v1/audit/events", params={"kind": kind}).json()["events"]
    assert events, f"no {kind} event"
    payload = events[-1]["payload"]
    assert payload["endpoint"] == P + "/queue" and payload["method"] == "GET"
    assert events[-1]["actor"] == ("anonymous" if kind == "auth_failed" else "intake")
