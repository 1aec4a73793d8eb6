"""Audit search by actor (API): exactly that actor's events, in chain order, paged like any search;
a limited compliance officer still sees only their product lines."""

from __future__ import annotations

from tests.review.test_workflow import G, submit


def _search(api, user: str, **params) -> list[dict]:
    response = api.as_(user).get("/api/v1/audit/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_the_actor_filter_returns_exactly_that_actors_events(api):
    submit(api, "german_credit", "GC-0188", "by-actor-1")
    submit(api, "german_credit", "GC-0188", "by-actor-2")
    for case_id in ("by-actor-1", "by-actor-2"):
        assert api.as_("ana").post(f"{G}/cases/{case_id}/claim").status_code == 200
        assert api.as_("ana").post(f"{G}/cases/{case_id}/release").status_code == 200
    everything = _search(api, "cora")
    by_ana = _search(api, "cora", actor="ana")
    assert [e["seq"] for e in by_ana] == [e["seq"] for e in everything if e["actor"] == "ana"]
    assert {e["kind"] for e in by_ana} >= {"review_claimed", "review_released"}
    assert _search(api, "cora", actor="nobody") == []
    # Paged one at a time, the same events in the same order.
    paged, after = [], 0
    while True:
        answer = (
            api.as_("cora")
            .get("/api/v1/audit/events", params={"actor": "ana", "limit": 1, "after_seq": after})
            .json()
        )
        paged += answer["events"]
        if answer["next_after_seq"] is None:
            break
        after = answer["next_after_seq"]
    assert [e["seq"] for e in paged] == [e["seq"] for e in by_ana]


def test_the_actor_filter_keeps_a_limited_officer_to_their_product_lines(api):
    submit(api, "german_credit", "GC-0188", "by-actor-3")
    assert api.as_("ana").post(f"{G}/cases/by-actor-3/claim").status_code == 200
    assert _search(api, "carl", actor="ana") == []  # carl: compliance, fraud_alerts only
    assert _search(api, "cora", actor="ana", product="german_credit")
