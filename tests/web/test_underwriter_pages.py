"""The underwriter's pages through HTTP: the queue (order, filters, paging), claim next, the case page
(score in words, the SHAP waterfall, fairness context, pre-filled adverse-action reasons), and the
decision, four-eyes and override flows as the API has them."""

from __future__ import annotations

import html
import math
import re

from sqlalchemy import select, text

from decision_review.audit.log import find_events
from decision_review.products.service import set_auto_decisions
from decision_review.store.tables import Case, Decision
from tests.api.golden import case as golden_case

GERMAN = "german_credit"
FRAUD = "fraud_alerts"
CASE_LINK = re.compile(r'class="case-link">([^<]+)</a>')


def queued_ids(page: str) -> list[str]:
    return [html.unescape(c) for c in CASE_LINK.findall(page)]


def _decisions(pages, case_id: str) -> list:
    with pages.services.db.read() as session:
        return list(
            session.scalars(
                select(Decision)
                .join(Case, Case.id == Decision.case_pk)
                .where(Case.case_id == case_id)
                .order_by(Decision.id)
            )
        )


def latest_decision(pages, case_id: str):
    return _decisions(pages, case_id)[-1]


def auto_decision(pages, case_id: str):
    return next(d for d in _decisions(pages, case_id) if d.kind == "auto")


def test_the_queue_lists_the_product_lines_review_cases_most_urgent_first(pages, web_template):
    ana = pages.client("ana")
    page = ana.get(f"/queue?product={GERMAN}").text
    reviews = {c for c, o in web_template.outcomes[GERMAN].items() if o == "review"}
    assert set(queued_ids(page)) == reviews
    assert queued_ids(page)[0] == "large_loan_referred"  # priority 2 before 3 and 5
    only_qa = queued_ids(ana.get(f"/queue?product={GERMAN}&queue=qa_review").text)
    assert only_qa and set(only_qa) < reviews and "large_loan_referred" not in only_qa
    fraud = queued_ids(ana.get(f"/queue?product={FRAUD}").text)
    assert set(fraud) == {c for c, o in web_template.outcomes[FRAUD].items() if o == "review"}


def test_the_queue_pages_through_many_cases(pages, web_template):
    with pages.services.db.write() as session:
        set_auto_decisions(session, GERMAN, enabled=False, note="test: everything to review", actor="rita")
    intake = pages.services  # submit through the API as the intake system does
    from fastapi.testclient import TestClient

    with TestClient(pages.app) as api:
        api.headers["Authorization"] = f"Bearer {web_template.tokens['intake']}"
        cases = [golden_case(GERMAN, "GC-0068", case_id=f"P-{i:03d}") for i in range(60)]
        response = api.post(f"/api/v1/products/{GERMAN}/cases/batch", json={"cases": cases})
        assert response.status_code == 201, response.text
    assert intake is not None
    ana = pages.client("ana")
    first = ana.get(f"/queue?product={GERMAN}")
    total = 60 + sum(o == "review" for o in web_template.outcomes[GERMAN].values())
    assert f"1–50 of {total} cases" in first.text
    assert "Automatic decisions are switched off" in first.text
    second = ana.get(f"/queue?product={GERMAN}&page=2")
    assert f"51–{total} of {total} cases" in second.text
    shown = queued_ids(first.text) + queued_ids(second.text)
    assert len(shown) == total and len(set(shown)) == total


def test_claim_next_then_decide_with_reasons_and_the_case_leaves_the_queue(pages):
    ana = pages.client("ana")
    claimed = ana.post("/queue/claim-next", {"product": GERMAN, "queue": "standard_review"})
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/cases/{GERMAN}/GC-0188"
    page = ana.get(claimed.headers["location"]).text
    assert 'id="decision-form"' in page and "Held by ana" in page
    auto = auto_decision(pages, "GC-0188")
    prefilled = [r["code"] for r in auto.reasons if r["contribution"] > 0]
    assert prefilled
    for code in prefilled:  # the model's reasons towards the bad outcome are pre-checked
        assert re.search(rf'id="decision-adverse-{code}"[^>]*\bchecked\b', page), code
    decided = ana.post(
        f"/cases/{GERMAN}/GC-0188/decision",
        {
            "outcome": "decline",
            "reason_codes": ["AFFORDABILITY_INSUFFICIENT"],
            "adverse_action_reasons": prefilled[:2],
            "note": "Payslips show income below the repayments.",
        },
    )
    assert decided.status_code == 303 and decided.headers["location"] == f"/queue?product={GERMAN}"
    queue = ana.get(decided.headers["location"]).text
    assert "Case GC-0188 decided: decline." in queue
    assert "GC-0188" not in queued_ids(queue)
    row = latest_decision(pages, "GC-0188")
    assert (row.kind, row.outcome, row.decided_by) == ("review", "decline", "ana")
    assert row.note == "Payslips show income below the repayments."
    assert [r["code"] for r in row.reasons if r["use"] == "adverse_action"] == prefilled[:2]
    with pages.services.db.read() as session:
        events = find_events(session, case_id="GC-0188", kind="review_decided")
    assert [(e.actor, e.payload["outcome"]) for e in events] == [("ana", "decline")]


def test_a_decision_without_reasons_is_refused_with_the_entries_kept(pages):
    ana = pages.client("ana")
    assert ana.post(f"/cases/{GERMAN}/GC-0188/claim").status_code == 303
    refused = ana.post(
        f"/cases/{GERMAN}/GC-0188/decision", {"outcome": "approve", "note": "Checked the file."}
    )
    assert refused.status_code == 422
    assert "give at least one reason code" in refused.text and 'role="alert"' in refused.text
    assert "Checked the file.</textarea>" in refused.text
    assert re.search(r'id="outcome-approve"[^>]*\bchecked\b', refused.text)
    no_adverse = ana.post(
        f"/cases/{GERMAN}/GC-0188/decision",
        {"outcome": "decline", "reason_codes": ["DOCUMENTS_MISSING"], "note": "No payslips."},
    )
    assert no_adverse.status_code == 422 and "at least one adverse-action reason" in no_adverse.text
    assert latest_decision(pages, "GC-0188").kind == "auto"  # nothing was decided
    assert "Held by ana" in ana.get(f"/cases/{GERMAN}/GC-0188").text


def test_a_case_held_by_another_reviewer_cannot_be_decided(pages):
    ana, bob = pages.client("ana"), pages.client("bob")
    assert ana.post(f"/cases/{GERMAN}/GC-0188/claim").status_code == 303
    page = bob.get(f"/cases/{GERMAN}/GC-0188").text
    assert "decision-form" not in page and "<strong>ana</strong> holds this case" in page
    refused = bob.post(
        f"/cases/{GERMAN}/GC-0188/decision",
        {"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "fine"},
    )
    assert refused.status_code == 409 and "claimed by ana" in refused.text


def test_four_eyes_a_second_reviewer_must_grant_the_decision(pages):
    ana, bob = pages.client("ana"), pages.client("bob")
    assert ana.post(f"/cases/{GERMAN}/large_loan_referred/claim").status_code == 303
    pending = ana.post(
        f"/cases/{GERMAN}/large_loan_referred/decision",
        {"outcome": "approve", "reason_codes": ["INCOME_VERIFIED"], "note": "Income verified."},
    )
    assert pending.status_code == 303
    waiting = ana.get(pending.headers["location"]).text
    assert (
        "waits for a second reviewer" in waiting
        and 'action="/cases/german_credit/large_loan_referred/approval"' not in waiting
    )
    own = ana.post(f"/cases/{GERMAN}/large_loan_referred/approval", {"grant": "yes", "note": "mine"})
    assert own.status_code == 409 and "second, different reviewer" in own.text
    assert 'name="grant"' in bob.get(f"/cases/{GERMAN}/large_loan_referred").text
    granted = bob.post(
        f"/cases/{GERMAN}/large_loan_referred/approval", {"grant": "yes", "note": "Checked it."}
    )
    assert granted.status_code == 303
    row = latest_decision(pages, "large_loan_referred")
    assert (row.kind, row.outcome, row.decided_by) == ("review", "approve", "ana")


def test_an_automatic_approval_can_be_overridden_with_four_eyes(pages):
    ana, bob = pages.client("ana"), pages.client("bob")
    page = ana.get(f"/cases/{GERMAN}/GC-0001").text
    assert "Override the automatic approve" in page and "A second reviewer must approve it" in page
    response = ana.post(
        f"/cases/{GERMAN}/GC-0001/override",
        {
            "outcome": "decline",
            "reason_codes": ["INCOME_NOT_VERIFIED"],
            "adverse_action_reasons": ["INCOME_NOT_VERIFIED"],
            "note": "Income proof forged.",
        },
    )
    assert response.status_code == 303
    assert latest_decision(pages, "GC-0001").kind == "auto"  # waiting, not in force
    assert (
        bob.post(
            f"/cases/{GERMAN}/GC-0001/approval", {"grant": "yes", "note": "Saw the forgery."}
        ).status_code
        == 303
    )
    row = latest_decision(pages, "GC-0001")
    assert (row.kind, row.outcome, row.decided_by) == ("override", "decline", "ana")


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_the_case_page_says_the_score_in_the_products_words_and_draws_its_contributions(pages):
    bob = pages.client("bob")
    auto = auto_decision(pages, "GC-0188")
    page = bob.get(f"/cases/{GERMAN}/GC-0188").text
    assert f"about 1 in {round(1 / auto.score)} applicants like this go bad" in page
    explanation = auto.explanation
    final = explanation["base_value"] + sum(explanation["contributions"].values())
    assert abs(_sigmoid(final) - auto.score) < 1e-6  # the waterfall ends at the stored score
    svg = re.search(r'<svg[^>]*class="chart waterfall".*?</svg>', page, re.S).group(0)
    assert "<title id=" in svg and "<desc id=" in svg and f"{auto.score:.1%}" in svg
    model = pages.services.catalog.registry.load(GERMAN, 1)
    top = max(explanation["contributions"], key=lambda f: abs(explanation["contributions"][f]))
    assert html.escape(model.reasons.reasons[top].text) in svg  # labelled by the reason text...
    assert top not in svg  # ...not the raw field name
    assert "The same as a table" in page and "Decide on the evidence" in page
    fraud_case = next(c for c, o in pages_outcomes(pages, FRAUD).items() if o == "review")
    fraud_auto = auto_decision(pages, fraud_case)
    fraud = bob.get(f"/cases/{FRAUD}/{fraud_case}").text
    n = round(1 / fraud_auto.score)
    expected = (
        f"about 1 in {n:,} alerts like this are fraud"
        if fraud_auto.score < 0.5
        else "alerts like this are fraud"
    )
    assert expected in fraud and ">close<" in fraud and ">block<" in fraud and ">investigate<" in fraud


def pages_outcomes(pages, product: str) -> dict[str, str]:
    with pages.services.db.read() as session:
        rows = session.execute(
            text(
                "SELECT c.case_id, d.outcome FROM cases c JOIN decisions d ON d.case_pk = c.id "
                "WHERE c.product = :p AND d.kind = 'auto'"
            ),
            {"p": product},
        ).all()
    return dict(rows)


def test_fraud_decisions_use_the_policys_outcome_words(pages):
    fiona = pages.client("fiona")
    case_id = next(c for c, o in pages_outcomes(pages, FRAUD).items() if o == "review")
    assert fiona.post(f"/cases/{FRAUD}/{case_id}/claim").status_code == 303
    page = fiona.get(f"/cases/{FRAUD}/{case_id}").text
    assert (
        '<label for="outcome-approve">Close</label>' in page
        and '<label for="outcome-decline">Block</label>' in page
    )
    assert "Adverse-action reasons (used only for a block)" in page


def test_the_fairness_context_compares_the_cases_group_with_the_reference(pages):
    cora = pages.client("cora")
    with pages.services.db.read() as session:
        rows = session.execute(
            text(
                "SELECT c.id, c.case_id, c.protected, d.outcome FROM cases c "
                "JOIN decisions d ON d.case_pk = c.id WHERE c.product = :p "
                "AND d.id = (SELECT max(id) FROM decisions WHERE case_pk = c.id)"
            ),
            {"p": GERMAN},
        ).all()
    import json

    protected = {
        r.case_id: (r.protected if isinstance(r.protected, dict) else json.loads(r.protected)) for r in rows
    }
    decided = [(protected[r.case_id], r.outcome) for r in rows if r.outcome in ("approve", "decline")]
    page = cora.get(f"/cases/{GERMAN}/GC-0188").text
    section = page[page.index('id="fair-title"') :]
    for attribute, group in protected["GC-0188"].items():
        members = [o for p, o in decided if p.get(attribute) == group]
        rate = sum(o == "approve" for o in members) / len(members) if members else None
        shown = f'{100 * rate:.1f}% <span class="muted">of {len(members)}</span>' if rate is not None else "–"
        assert shown in section, (attribute, group, shown)
    assert "small group" in section  # a handful of golden cases: every group is small
