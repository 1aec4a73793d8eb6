"""Bad requests get a 4xx whose message names the problem, never a 500, and write nothing."""

from __future__ import annotations

import json

import pytest

from tests.api.counts import counts, review_states
from tests.api.golden import case

BASE = "/api/v1/products/german_credit"
GOOD = case("german_credit", "GC-0188", "bad-input-base")
CLAIMED = case("german_credit", "GC-0188", "claimed-by-ana")
UNCLAIMED = case("german_credit", "GC-0188", "nobody-claimed")
DONE = case("german_credit", "GC-0188", "already-decided")
DECIDE = {"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "checked"}


def _without(record: dict, field: str) -> dict:
    return {k: v for k, v in record.items() if k != field}


# (who, method, path, body, status, words the message must contain)
BAD = [
    ("intake", "POST", "/cases", b'{"case_id": "x", "duration_in_month": 12,', 400, ["not valid JSON"]),
    ("intake", "POST", "/cases", b"[1, 2]", 422, ["valid dictionary"]),
    (
        "intake",
        "POST",
        "/cases",
        {**GOOD, "case_id": "t1", "credit_amount": "a lot"},
        422,
        ["credit_amount", "number"],
    ),
    ("intake", "POST", "/cases", {**GOOD, "case_id": "t2", "purpose": 7}, 422, ["purpose", "text"]),
    (
        "intake",
        "POST",
        "/cases",
        {**GOOD, "case_id": "t3", "age_in_years": True},
        422,
        ["age_in_years", "number"],
    ),
    (
        "intake",
        "POST",
        "/cases",
        {**GOOD, "case_id": "t4", "credit_amout": 5},
        422,
        ["credit_amout", "credit_amount"],
    ),
    (
        "intake",
        "POST",
        "/cases",
        _without({**GOOD, "case_id": "t5"}, "duration_in_month"),
        422,
        ["duration_in_month", "required"],
    ),
    ("intake", "POST", "/cases", _without(GOOD, "case_id"), 422, ["case_id", "required"]),
    ("intake", "POST", "/cases", {**GOOD, "case_id": "a/b"}, 422, ["'/'"]),
    # Ids that look like another id: the retry of "bad-input-base" would be a second case
    ("intake", "POST", "/cases", {**GOOD, "case_id": "bad-input-base "}, 422, ["begin or end with a space"]),
    ("intake", "POST", "/cases", {**GOOD, "case_id": "bad\u200binput"}, 422, ["U+200B", "ZERO WIDTH SPACE"]),
    ("intake", "POST", "/cases", {**GOOD, "case_id": "bad\u00a0input"}, 422, ["U+00A0", "position 4"]),
    ("intake", "POST", "/cases", {**GOOD, "case_id": "t6", "housing": {"nested": 1}}, 422, ["housing"]),
    (
        "intake",
        "POST",
        "/cases",
        json.dumps({**GOOD, "case_id": "t7", "credit_amount": "INF"}).replace('"INF"', "1e400").encode(),
        422,
        ["credit_amount", "finite"],
    ),
    (  # a whole number beyond any float: Python's JSON reads it exactly, so it must be refused here
        "intake",
        "POST",
        "/cases",
        json.dumps({**GOOD, "case_id": "t8", "credit_amount": 0})
        .replace('"credit_amount": 0', '"credit_amount": 1' + "0" * 400)
        .encode(),
        422,
        ["credit_amount", "too large"],
    ),
    (
        "intake",
        "POST",
        "/cases",
        {**GOOD, "purpose": "business"},
        409,
        ["bad-input-base", "different inputs"],
    ),
    # A NUL character: PostgreSQL holds it in no text or JSONB column, so every store refuses it
    ("intake", "POST", "/cases", {**GOOD, "case_id": "t10", "purpose": "car\x00"}, 422, ["purpose", "NUL"]),
    (
        "intake",
        "POST",
        "/cases/batch",
        {"cases": [GOOD, {**GOOD, "case_id": "t11", "purpose": "\x00"}]},
        422,
        ["'cases[1].purpose'", "NUL"],
    ),
    ("intake", "POST", "/cases", b"[" * 5000 + b"]" * 5000, 400, ["nests too deeply"]),
    ("intake", "POST", "/cases", b'{"case_id": "\xff"}', 400, ["not UTF-8"]),
    ("intake", "POST", "/cases/batch", {"cases": [GOOD], "extra": 1}, 422, ["extra"]),
    ("intake", "POST", "/cases/batch", {"cases": []}, 422, ["no cases"]),
    (
        "intake",
        "POST",
        "/cases/batch",
        {"cases": [{**GOOD, "case_id": "d"}, {**GOOD, "case_id": "d"}]},
        422,
        ["repeat", "'d'"],
    ),
    (
        "intake",
        "POST",
        "/cases/batch",
        {"cases": [{**GOOD, "purpose": "business"}, {**GOOD, "case_id": "n"}]},
        409,
        ["bad-input-base"],
    ),
    ("intake", "POST", "/api/v1/products/no_such_product/cases", GOOD, 404, ["no_such_product"]),
    ("intake", "GET", "/cases/no-such-case/decision", None, 404, ["no-such-case"]),
    ("ana", "GET", "/cases/no-such-case", None, 404, ["no-such-case"]),
    ("ana", "POST", "/cases/no-such-case/claim", None, 404, ["no-such-case"]),
    ("ana", "POST", "/cases/no-such-case/decision", DECIDE, 404, ["no-such-case"]),
    ("ana", "POST", "/cases/nobody-claimed/decision", DECIDE, 409, ["claim it before you decide"]),
    ("bob", "POST", "/cases/claimed-by-ana/decision", DECIDE, 409, ["claimed by ana"]),
    ("bob", "POST", "/cases/claimed-by-ana/claim", None, 409, ["claimed by ana"]),
    ("ana", "POST", "/cases/already-decided/decision", DECIDE, 409, ["already been decided"]),
    (
        "ana",
        "POST",
        "/cases/claimed-by-ana/decision",
        {**DECIDE, "reason_codes": ["INCOME_VERIFIED"] * 51},
        422,
        ["reason_codes", "at most 50"],
    ),
    (
        "ana",
        "POST",
        "/cases/claimed-by-ana/info-request",
        {"reason_codes": ["INCOME_VERIFIED"], "note": "n", "requested": [f"doc {i}" for i in range(21)]},
        422,
        ["requested", "at most 20"],
    ),
    (
        "ana",
        "POST",
        "/cases/claimed-by-ana/decision",
        {**DECIDE, "reason_codes": ["NO_SUCH"]},
        422,
        ["NO_SUCH"],
    ),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "reason_codes": []}, 422, ["reason_codes"]),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "note": ""}, 422, ["note"]),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "note": "   "}, 422, ["note is required"]),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "outcome": "maybe"}, 422, ["outcome"]),
    (
        "ana",
        "POST",
        "/cases/claimed-by-ana/decision",
        {**DECIDE, "outcome": "decline", "adverse_action_reasons": ["INCOME_VERIFIED"]},
        422,
        ["INCOME_VERIFIED", "adverse-action"],
    ),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "unknown": 1}, 422, ["unknown"]),
    (
        "ana",
        "POST",
        "/cases/claimed-by-ana/escalation",
        {"reason_codes": ["DATA_CORRECTED"], "note": "x", "queue": "nowhere"},
        422,
        ["nowhere"],
    ),
    ("ana", "POST", "/cases/already-decided/override", {**DECIDE, "outcome": "decline"}, 409, ["automatic"]),
    ("ana", "GET", "/queue?limit=abc", None, 422, ["limit"]),
    ("ana", "GET", "/queue?priority=2", None, 422, ["'priority'", "max_priority"]),  # a misspelt filter
    ("ana", "GET", "/queue?queue=standard%00review", None, 422, ["query parameter 'queue'", "NUL"]),
    ("ana", "GET", "/cases/no%00such", None, 422, ["path parameter 'case_id'", "NUL"]),
    ("ana", "POST", "/cases/claimed-by-ana/decision", {**DECIDE, "note": "seen\x00"}, 422, ["'note'", "NUL"]),
    (
        "cora",
        "GET",
        "/api/v1/audit/events?prodcut=german_credit&colour=red",
        None,
        422,
        ["parameters 'colour', 'prodcut' (did you mean 'product'?)", "takes: "],
    ),
    ("ana", "POST", "/cases/claimed-by-ana/decision", None, 422, ["body: is required"]),
    ("ana", "GET", "/queue?state=sleeping", None, 422, ["sleeping"]),
    ("rita", "POST", "/api/v1/products/german_credit/policies", {"yaml": "name: [unclosed"}, 422, ["YAML"]),
    ("rita", "POST", "/api/v1/policies/lint", {"yaml": 5}, 422, ["yaml"]),
    ("cora", "GET", "/api/v1/audit/events?kind=nonsense", None, 422, ["nonsense"]),
    ("cora", "POST", "/api/v1/audit/exports", {"from": "2026-13-01"}, 422, ["from '2026-13-01'"]),
    (
        "cora",
        "POST",
        "/api/v1/audit/exports",
        {"from": "2026-12-02", "to": "2020-01-01"},
        422,
        ["range is empty: from 2026-12-02 is not before to 2020-01-01"],
    ),
    ("cora", "POST", "/api/v1/audit/exports", {"kind": "nonsense"}, 422, ["kind 'nonsense'"]),
    # A mistyped product line: an empty search or export would read as "no such events"
    (
        "cora",
        "GET",
        "/api/v1/audit/events?product=german_credti",
        None,
        404,
        ["'german_credti'", "german_credit"],
    ),
    ("cora", "POST", "/api/v1/audit/exports", {"product": "german_credti"}, 404, ["'german_credti'"]),
    # Past the largest sequence a BIGINT holds: the database could not even compare it (was a 500)
    ("cora", "GET", "/api/v1/audit/events?after_seq=100000000000000000000", None, 422, ["after_seq"]),
    ("cora", "GET", "/api/v1/audit/events?since=yesterday", None, 422, ["since 'yesterday'"]),
    ("cora", "POST", "/api/v1/audit/verify", {"first_seq": 10}, 422, ["takes no body", "first_seq"]),
    ("adam", "POST", "/api/v1/users", {"name": "x y", "role": "admin"}, 422, ["x y"]),
    ("adam", "POST", "/api/v1/users", {"name": "zed", "role": "boss"}, 422, ["role"]),
    ("adam", "POST", "/api/v1/users", {"name": "ana", "role": "admin"}, 409, ["ana", "already exists"]),
    ("adam", "POST", "/api/v1/webhooks", {"name": "w", "url": "ftp://x.example/hook"}, 422, ["http"]),
    ("adam", "POST", "/api/v1/users/nobody/disable", None, 404, ["nobody"]),
    ("ana", "GET", "/api/v1/no/such/endpoint", None, 404, ["no such endpoint"]),
    ("ana", "DELETE", "/queue", None, 405, ["method"]),
]


@pytest.fixture
def prepared(api):
    intake, ana = api.as_("intake"), None
    for record in (GOOD, CLAIMED, UNCLAIMED, DONE):
        assert intake.post(f"{BASE}/cases", json=record).status_code == 201
    ana = api.as_("ana")
    assert ana.post(f"{BASE}/cases/claimed-by-ana/claim").status_code == 200
    assert ana.post(f"{BASE}/cases/already-decided/claim").status_code == 200
    assert ana.post(f"{BASE}/cases/already-decided/decision", json=DECIDE).status_code == 200
    return api


def test_each_bad_request_is_a_named_4xx_and_writes_nothing(prepared):
    api = prepared
    for who, method, path, body, status, words in BAD:
        url = path if path.startswith("/api/") else BASE + path
        before, states = counts(api.services), review_states(api.services)
        client = api.as_(who)
        if isinstance(body, bytes):
            response = client.request(method, url, content=body, headers={"content-type": "application/json"})
        else:
            response = client.request(method, url, json=body)
        label = f"{who} {method} {path} -> {response.status_code}: {response.text[:300]}"
        assert response.status_code == status, label
        message = response.json()["message"]
        problems = json.dumps(response.json().get("problems", []))
        for word in words:
            assert word in message or word in problems, label
        assert "--" not in message, f"{label}: names a command-line flag, not the API's field"
        assert counts(api.services) == before, f"{label} wrote something"
        assert review_states(api.services) == states, label


def test_invalid_cases_in_a_batch_are_reported_and_the_rest_stored(api):
    cases = [
        case("german_credit", "GC-0001", "batch-ok-1"),
        {**case("german_credit", "GC-0001", "batch-bad"), "credit_amount": "lots"},
        case("german_credit", "GC-0641", "batch-ok-2"),
        case("german_credit", "GC-0001", "batch-ok-1\u200b"),  # looks like the first: not a new case
    ]
    before = counts(api.services)
    response = api.as_("intake").post(f"{BASE}/cases/batch", json={"cases": cases})
    assert response.status_code == 201, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "created", "invalid"]
    assert "credit_amount" in results[1]["error"] and results[1]["problems"][0]["field"] == "credit_amount"
    assert "U+200B (ZERO WIDTH SPACE) at position 11" in results[3]["error"]
    after = counts(api.services)
    assert after["cases"] - before["cases"] == 2 and after["decisions"] - before["decisions"] == 2


def test_an_oversized_body_is_refused_before_it_is_read(sqlite_api_db, tmp_path, api_catalog):
    from fastapi.testclient import TestClient

    from tests.fixtures.api import build_app

    url, user_tokens = sqlite_api_db
    app = build_app(url, tmp_path, api_catalog, max_body_bytes=5_000)
    headers = {"Authorization": f"Bearer {user_tokens['intake']}", "content-type": "application/json"}
    big = json.dumps({"cases": [GOOD] * 20}).encode()
    with TestClient(app) as client:
        before = counts(app.state.services)
        declared = client.post(f"{BASE}/cases/batch", content=big, headers=headers)
        assert declared.status_code == 413 and "5,000 bytes" in declared.json()["message"]

        def chunks():
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        streamed = client.post(f"{BASE}/cases/batch", content=chunks(), headers=headers)
        assert streamed.status_code == 413 and "5,000 bytes" in streamed.json()["message"]
        assert counts(app.state.services) == before


def test_a_body_sent_as_another_type_is_told_to_send_json(sqlite_api):
    response = sqlite_api.as_("intake").post(
        f"{BASE}/cases", content=json.dumps(GOOD).encode(), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 422
    assert "sent as text/plain; send JSON with Content-Type: application/json" in response.json()["message"]


def test_json_sent_the_way_curl_d_sends_it_is_told_its_content_type(sqlite_api):
    """`curl -d` sends form encoding; a client may send no Content-Type at all: both are told why."""
    intake = sqlite_api.as_("intake")
    for headers, sent in (
        ({"content-type": "application/x-www-form-urlencoded"}, "as application/x-www-form-urlencoded"),
        ({"content-type": ""}, "with no Content-Type"),
    ):
        response = intake.post(f"{BASE}/cases", content=json.dumps(GOOD).encode(), headers=headers)
        assert response.status_code == 422
        assert f"sent {sent}; send JSON with Content-Type: application/json" in response.json()["message"]
