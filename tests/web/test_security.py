"""Who may open which page (the API's permission table), CSRF on every form, the security headers,
escaping, and failures that show a page, never a stack trace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from decision_review.audit.log import find_events
from decision_review.schemas import Role
from decision_review.users.permissions import ROLE_PERMISSIONS, Permission

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "decision_review" / "web" / "templates"
PEOPLE = {
    Role.UNDERWRITER: "ana",
    Role.COMPLIANCE: "cora",
    Role.RISK: "rita",
    Role.ADMIN: "adam",
    Role.INTAKE: "intake",
}
FAKE_RUN = "20260101T000000Z-deadbeef"

PAGES = [
    ("/overview", Permission.READ_REPORTS),
    ("/queue", Permission.READ_CASES),
    ("/cases/german_credit/GC-0188", Permission.READ_CASES),
    ("/compliance/audit", Permission.READ_AUDIT),
    ("/compliance/fairness", Permission.READ_REPORTS),
    ("/compliance/notices/german_credit/GC-0005", Permission.READ_AUDIT),
    ("/risk/policies", Permission.CHECK_POLICIES),
    ("/risk/policies/german_credit/1", Permission.CHECK_POLICIES),
    ("/risk/policies/german_credit/diff?a=1&b=1", Permission.CHECK_POLICIES),
    ("/risk/backtests", Permission.CHECK_POLICIES),
]
FORMS = [
    ("/queue/claim-next", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0188/claim", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0188/release", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0188/decision", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0188/escalation", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0188/info-request", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0001/override", Permission.WORK_REVIEWS),
    ("/cases/german_credit/GC-0001/approval", Permission.WORK_REVIEWS),
    ("/compliance/audit/verify", Permission.VERIFY_AUDIT),
    ("/compliance/audit/export", Permission.EXPORT_AUDIT),
    ("/risk/backtests", Permission.CHECK_POLICIES),
    (f"/risk/backtests/{FAKE_RUN}/publish", Permission.PUBLISH_POLICIES),
]


@pytest.mark.parametrize("role", list(PEOPLE), ids=lambda r: r.value)
def test_each_page_opens_for_the_roles_the_permission_table_names_and_no_other(pages, role):
    client = pages.client(PEOPLE[role])
    for path, permission in PAGES:
        response = client.get(path)
        if role in ROLE_PERMISSIONS[permission]:
            assert response.status_code == 200, (role, path, response.text[:300])
        else:
            assert response.status_code == 403, (role, path, response.status_code)
            assert "Not for your role" in response.text and permission.value in response.text
    for path, permission in FORMS:
        if role not in ROLE_PERMISSIONS[permission]:
            response = client.post(path, {})
            assert response.status_code == 403, (role, path, response.status_code)


def test_an_underwriter_sees_no_risk_or_compliance_link_and_the_refusal_is_audited(pages):
    ana = pages.client("ana")
    queue = ana.get("/queue").text
    assert 'href="/queue' in queue
    for link in ("/risk/", "/compliance/", "/overview"):
        assert f'href="{link}' not in queue
    assert ana.get("/risk/backtests").status_code == 403
    with pages.services.db.read() as session:
        denied = find_events(session, kind="access_denied", limit=100)
    assert any(
        e.actor == "ana"
        and e.payload["via"] == "web"
        and Permission.CHECK_POLICIES.value in e.payload["reason"]
        for e in denied
    )


def test_a_user_limited_to_a_product_line_sees_only_it(pages):
    fiona = pages.client("fiona")
    queue = fiona.get("/queue")
    assert queue.status_code == 200 and "fraud alerts" in queue.text and "german credit" not in queue.text
    assert fiona.get("/queue?product=german_credit").status_code == 403
    assert fiona.get("/cases/german_credit/GC-0188").status_code == 403
    assert fiona.post("/cases/german_credit/GC-0188/claim").status_code == 403
    carl = pages.client("carl")
    assert carl.get("/compliance/audit?product=german_credit").status_code == 403
    shown = carl.get("/compliance/audit").text
    assert "GC-0188" not in shown and "takeover_cash_out" in shown


def _state_of(pages, case_id: str) -> str:
    from sqlalchemy import text

    with pages.services.db.read() as session:
        return session.execute(
            text("SELECT r.state FROM review_items r JOIN cases c ON c.id = r.case_pk WHERE c.case_id = :c"),
            {"c": case_id},
        ).scalar_one()


@pytest.mark.parametrize("path,permission", FORMS, ids=[p for p, _ in FORMS])
def test_every_form_refuses_a_post_without_the_session_token(pages, path, permission):
    person = next(name for role, name in PEOPLE.items() if role in ROLE_PERMISSIONS[permission])
    client = pages.client(person)
    with pages.services.db.read() as session:
        before = len(find_events(session, limit=10_000))
    for token in (None, "forged-token"):
        data = {
            "product": "german_credit",
            "outcome": "approve",
            "reason_codes": "DOCUMENTS_VERIFIED",
            "note": "n",
            "policy_text": "x",
        } | ({"csrf_token": token} if token else {})
        response = client.post(path, data, csrf=False)
        assert response.status_code == 403 and "The form has expired" in response.text, path
    with pages.services.db.read() as session:
        assert len(find_events(session, limit=10_000)) == before  # nothing was recorded: nothing happened
    assert _state_of(pages, "GC-0188") == "queued"
    assert not (Path(pages.services.settings.home) / "backtests").exists()


def test_pages_carry_the_security_headers(pages):
    ana = pages.client("ana")
    for response in (ana.get("/queue"), ana.get("/risk/policies"), pages.client().client.get("/sign-in")):
        csp = response.headers["content-security-policy"]
        script = re.search(r"script-src ([^;]+)", csp).group(1)
        assert script.strip() == "'self'" and "unsafe" not in re.search(r"style-src ([^;]+)", csp).group(1)
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_templates_have_no_inline_script_style_or_handlers():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path


def test_text_from_cases_and_people_is_escaped(pages):
    ana = pages.client("ana")
    missing = ana.get("/cases/german_credit/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert missing.status_code == 404
    assert "<img src=x" not in missing.text and "&#39;&lt;img src=x onerror=alert(1)&gt;&#39;" in missing.text
    assert ana.post("/cases/german_credit/GC-0188/claim").status_code == 303
    note = '<img src=x onerror="alert(1)">'
    response = ana.post(
        "/cases/german_credit/GC-0188/escalation",
        {"reason_codes": "DOCUMENTS_VERIFIED", "note": note, "queue": "senior_underwriting"},
    )
    assert response.status_code == 303
    page = pages.client("bob").get("/cases/german_credit/GC-0188").text
    assert note not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_a_failure_is_a_page_with_a_reference_and_no_stack_trace(pages, monkeypatch):
    from decision_review.web import case_page

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(case_page, "build", broken)
    response = pages.client("ana").get("/cases/german_credit/GC-0188")
    assert response.status_code == 500 and "Something went wrong" in response.text
    assert re.search(r"<code>[0-9a-f]{12}</code>", response.text)
    assert "Traceback" not in response.text and "secret internals" not in response.text


def test_unknown_pages_get_a_page_and_unknown_api_addresses_keep_json(pages):
    client = pages.client("ana")
    page = client.get("/no/such/page")
    assert (
        page.status_code == 404
        and "No such page" in page.text
        and "text/html" in page.headers["content-type"]
    )
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert client.get("/queue?page=abc").status_code == 400
