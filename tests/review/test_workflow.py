"""The review workflow through its services (and the API where the adapter matters): leases that
run out, release, escalation, information requests, four-eyes on amounts, override windows, the
stop switch, queue filters. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from decision_review.errors import Conflict
from decision_review.review import service
from decision_review.store.repository import utc_now
from tests.api.golden import case

G = "/api/v1/products/german_credit"
F = "/api/v1/products/fraud_alerts"
LEASE = dt.timedelta(minutes=30)
DECIDE = {"reason_codes": ["INCOME_VERIFIED"], "note": "checked the payslips"}


def submit(api, product: str, golden_id: str, case_id: str) -> dict:
    response = api.as_("intake" if product == "german_credit" else "frank").post(
        f"/api/v1/products/{product}/cases", json=case(product, golden_id, case_id)
    )
    assert response.status_code == 201, response.text
    return response.json()


def live(api, product: str = "german_credit"):
    with api.services.db.read() as session:
        return api.services.catalog.live(session, product)


def events(api, case_id: str) -> list[tuple[str, str]]:
    found = api.as_("cora").get("/api/v1/audit/events", params={"case_id": case_id}).json()["events"]
    return [(e["kind"], e["actor"]) for e in found]


def test_an_expired_lease_frees_the_case(api):
    submit(api, "german_credit", "GC-0188", "lease-1")
    db, start = api.services.db, utc_now()
    with db.write() as session:
        service.claim(session, "german_credit", "lease-1", actor="ana", lease=LEASE, now=start)
    with db.write() as session, pytest.raises(Conflict, match="claimed by ana"):
        service.claim(session, "german_credit", "lease-1", actor="bob", lease=LEASE, now=start + LEASE / 2)
    later = start + LEASE + dt.timedelta(seconds=1)
    with db.write() as session:
        claim = service.claim(session, "german_credit", "lease-1", actor="bob", lease=LEASE, now=later)
    assert claim.claimed_by == "bob"
    with db.write() as session, pytest.raises(Conflict, match="claimed by bob"):
        service.decide(session, live(api), "lease-1", actor="ana", outcome="approve", now=later, **DECIDE)
    params = {"case_id": "lease-1", "kind": "review_claimed"}
    claimed = api.as_("cora").get("/api/v1/audit/events", params=params).json()["events"]
    assert [e["payload"]["expired_claim_of"] for e in claimed] == [None, "ana"]


def test_the_queue_shows_an_expired_claim_as_queued(api):
    submit(api, "german_credit", "GC-0188", "lease-2")
    with api.services.db.write() as session:
        service.claim(
            session, "german_credit", "lease-2", actor="ana", lease=LEASE, now=utc_now() - 2 * LEASE
        )
    item = next(i for i in api.as_("bob").get(f"{G}/queue").json()["items"] if i["case_id"] == "lease-2")
    assert item["state"] == "queued" and item["claimed_by"] is None
    assert api.as_("bob").post(f"{G}/cases/lease-2/claim").status_code == 200


def test_release_escalate_and_request_information(api):
    submit(api, "german_credit", "GC-0188", "flow-1")
    ana, bob = api.as_("ana"), None
    assert ana.post(f"{G}/cases/flow-1/claim").status_code == 200
    bob = api.as_("bob")
    assert bob.post(f"{G}/cases/flow-1/release").status_code == 409  # only the holder releases
    ana = api.as_("ana")
    assert ana.post(f"{G}/cases/flow-1/release").status_code == 200
    assert ana.post(f"{G}/cases/flow-1/claim").status_code == 200
    escalated = ana.post(
        f"{G}/cases/flow-1/escalation",
        json={
            "reason_codes": ["POLICY_EXCEPTION"],
            "note": "needs a higher mandate",
            "queue": "senior_underwriting",
        },
    )
    assert escalated.status_code == 200, escalated.text
    item = next(i for i in ana.get(f"{G}/queue", params={"state": "escalated"}).json()["items"])
    assert (item["case_id"], item["queue"], item["priority"]) == ("flow-1", "senior_underwriting", 2)
    bob = api.as_("bob")
    assert bob.post(f"{G}/cases/flow-1/claim").status_code == 200
    asked = bob.post(
        f"{G}/cases/flow-1/info-request",
        json={
            "reason_codes": ["DOCUMENTS_VERIFIED"],
            "note": "bank statements missing",
            "requested": ["last 3 bank statements"],
        },
    )
    assert asked.status_code == 200, asked.text
    waiting = bob.get(f"{G}/queue", params={"state": "info_requested"}).json()["items"]
    assert [i["case_id"] for i in waiting] == ["flow-1"]
    assert bob.post(f"{G}/cases/flow-1/claim").status_code == 200
    assert bob.post(f"{G}/cases/flow-1/decision", json={"outcome": "approve", **DECIDE}).status_code == 200
    assert events(api, "flow-1")[2:] == [
        ("review_claimed", "ana"),
        ("review_released", "ana"),
        ("review_claimed", "ana"),
        ("review_escalated", "ana"),
        ("review_claimed", "bob"),
        ("info_requested", "bob"),
        ("review_claimed", "bob"),
        ("review_decided", "bob"),
    ]


def test_an_information_request_is_bounded_whichever_way_it_comes(api):
    """The web form reaches the service without the API's schema: the service holds the bounds."""
    from decision_review.errors import InvalidInput

    submit(api, "german_credit", "GC-0188", "bounded-1")
    assert api.as_("ana").post(f"{G}/cases/bounded-1/claim").status_code == 200
    asks = {
        "at most 20 items at once, not 21": [f"document {i}" for i in range(21)],
        "requested item 2 is longer than 500 characters": ["payslip", "x" * 501],
    }
    for message, requested in asks.items():
        with pytest.raises(InvalidInput, match=message), api.services.db.write() as session:
            live = api.services.catalog.live(session, "german_credit")
            service.request_info(
                session, live, "bounded-1", actor="ana", reason_codes=["DOCUMENTS_VERIFIED"], note="n",
                requested=requested,
            )  # fmt: skip
    assert events(api, "bounded-1")[-1] == ("review_claimed", "ana")  # nothing was recorded


def test_four_eyes_on_a_large_amount_refused_then_granted(api):
    submit(api, "german_credit", "large_loan_referred", "big-1")
    ana = api.as_("ana")
    assert ana.post(f"{G}/cases/big-1/claim").status_code == 200
    pending = ana.post(f"{G}/cases/big-1/decision", json={"outcome": "approve", **DECIDE}).json()
    assert pending["status"] == "pending_approval" and "credit_amount 12000" in pending["why_four_eyes"]
    assert api.as_("bob").post(f"{G}/cases/big-1/claim").status_code == 409  # waiting, not claimable
    refused = api.as_("bob").post(f"{G}/cases/big-1/approval", json={"grant": False, "note": "no collateral"})
    assert refused.json()["status"] == "refused"
    assert api.as_("intake").get(f"{G}/cases/big-1/decision").json()["kind"] == "auto"  # nothing took effect
    ana = api.as_("ana")
    assert ana.post(f"{G}/cases/big-1/claim").status_code == 200
    decline = {"outcome": "decline", "reason_codes": ["AFFORDABILITY_INSUFFICIENT"], "note": "second look"}
    assert ana.post(f"{G}/cases/big-1/decision", json=decline).json()["status"] == "pending_approval"
    granted = api.as_("bob").post(f"{G}/cases/big-1/approval", json={"grant": True, "note": "agreed"}).json()
    assert granted["status"] == "decided"
    detail = api.as_("cora").get(f"{G}/cases/big-1").json()
    assert (detail["decision"]["outcome"], detail["decision"]["decided_by"]) == ("decline", "ana")
    assert [a["state"] for a in detail["approvals"]] == ["refused", "granted"]
    assert detail["review"]["state"] == "decided"


def test_override_window_and_what_can_be_overridden(api):
    submit(api, "german_credit", "GC-0001", "ovr-1")
    submit(api, "german_credit", "GC-0188", "ovr-review")
    product = live(api)
    assert product.review.override_window == dt.timedelta(hours=72)
    late = utc_now() + dt.timedelta(hours=73)
    with api.services.db.write() as session, pytest.raises(Conflict, match="override window of 72 hours"):
        service.override(
            session,
            product,
            "ovr-1",
            actor="ana",
            outcome="decline",
            now=late,
            **DECIDE,
            adverse_action_reasons=["INCOME_NOT_VERIFIED"],
        )
    ana = api.as_("ana")
    same = ana.post(f"{G}/cases/ovr-1/override", json={"outcome": "approve", **DECIDE})
    assert same.status_code == 409 and "already approved" in same.json()["message"]
    review = ana.post(f"{G}/cases/ovr-review/override", json={"outcome": "approve", **DECIDE})
    assert review.status_code == 409 and "in review" in review.json()["message"]


def test_fraud_overrides_of_blocks_need_four_eyes_but_closes_do_not(api):
    blocked = submit(api, "fraud_alerts", "card_testing_burst_abroad", "blk-1")
    closed = submit(api, "fraud_alerts", "genuine_grocery_at_home", "cls-1")
    assert (blocked["decision"]["outcome"], closed["decision"]["outcome"]) == ("decline", "approve")
    fiona = api.as_("fiona")
    unblock = fiona.post(
        f"{F}/cases/blk-1/override",
        json={"outcome": "approve", "reason_codes": ["GENUINE_CONFIRMED"], "note": "cardholder called"},
    )
    assert unblock.json()["status"] == "pending_approval", unblock.text
    block = fiona.post(
        f"{F}/cases/cls-1/override",
        json={"outcome": "decline", "reason_codes": ["FRAUD_CONFIRMED"], "note": "cardholder reports theft"},
    )
    assert block.json()["status"] == "overridden", block.text
    reasons = block.json()["reasons"]
    assert any(r["use"] == "adverse_action" for r in reasons)


def test_the_stop_switch_sends_every_new_case_to_review(api):
    off = api.as_("rita").put(f"{G}/auto-decisions", json={"enabled": False, "note": "model drift suspected"})
    assert off.status_code == 200 and off.json()["auto_decisions_enabled"] is False
    decided = submit(api, "german_credit", "GC-0001", "stop-1")["decision"]
    assert (decided["outcome"], decided["winning_rule"]) == ("review", "auto_decisions_off")
    queue = api.as_("ana").get(f"{G}/queue").json()
    assert (
        queue["auto_decisions_enabled"] is False and queue["auto_decisions_note"] == "model drift suspected"
    )
    assert "stop-1" in [i["case_id"] for i in queue["items"]]
    assert (
        api.as_("adam").put(f"{G}/auto-decisions", json={"enabled": True, "note": "checked"}).status_code
        == 200
    )
    assert submit(api, "german_credit", "GC-0001", "stop-2")["decision"]["outcome"] == "approve"
    switched = api.as_("cora").get("/api/v1/audit/events", params={"kind": "auto_decisions_switched"}).json()
    assert [(e["actor"], e["payload"]["auto_decisions_enabled"]) for e in switched["events"]] == [
        ("rita", False),
        ("adam", True),
    ]
    assert api.as_("ana").put(f"{G}/auto-decisions", json={"enabled": False, "note": "x"}).status_code == 403


def test_queue_filters_and_order(api):
    for golden_id, case_id in [
        ("GC-0188", "q-std"),
        ("large_loan_referred", "q-big"),
        ("GC-0091", "GC-0091"),
    ]:
        submit(api, "german_credit", golden_id, case_id)
    ana = api.as_("ana")
    order = [i["case_id"] for i in ana.get(f"{G}/queue").json()["items"]]
    assert order == ["q-big", "q-std", "GC-0091"]  # priority 2, 3, 5
    assert [i["case_id"] for i in ana.get(f"{G}/queue", params={"max_priority": 3}).json()["items"]] == [
        "q-big",
        "q-std",
    ]
    assert [
        i["case_id"] for i in ana.get(f"{G}/queue", params={"winning_rule": "qa_sample"}).json()["items"]
    ] == ["GC-0091"]
    assert ana.get(f"{G}/queue", params={"older_than_minutes": 60}).json()["total"] == 0
    ana.post(f"{G}/cases/q-std/claim")
    mine = api.as_("ana").get(f"{G}/queue", params={"mine": True}).json()["items"]
    assert [i["case_id"] for i in mine] == ["q-std"] and mine[0]["claimed_by"] == "ana"
    assert api.as_("bob").get(f"{G}/queue", params={"mine": True}).json()["total"] == 0
    queue = api.as_("fiona").get(f"{F}/queue").json()
    assert queue["total"] == 0  # product lines keep their own queues


def test_outcomes_become_labels(api):
    submit(api, "german_credit", "GC-0001", "out-1")
    recorded = api.as_("intake").post(
        f"{G}/cases/out-1/outcomes", json={"bad": True, "description": "defaulted"}
    )
    assert recorded.status_code == 201 and recorded.json()["label"] == 1
    detail = api.as_("ana").get(f"{G}/cases/out-1").json()
    assert [(o["label"], o["description"]) for o in detail["outcomes"]] == [(1, "defaulted")]
    assert ("outcome_recorded", "intake") in events(api, "out-1")
