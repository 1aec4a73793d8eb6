"""The four journeys in a real browser: an underwriter claims and decides a case with the keyboard
and sees it leave the queue; compliance verifies and exports the log and finds a decision in the
download; risk backtests a candidate policy and reads its fairness table; an underwriter cannot
open the risk or compliance pages."""

from __future__ import annotations

import json
import re
import zipfile

import httpx
import pytest

from decision_review.audit.export import verify_export
from tests.e2e.conftest import DESKTOP, ROOT, screenshot

pytestmark = pytest.mark.e2e
GERMAN = "german_credit"


def case_ids(page) -> list[str]:
    return page.locator("table[data-queue] a.case-link").all_inner_texts()


def test_an_underwriter_claims_and_decides_a_case_with_the_keyboard(open_page):
    page = open_page(DESKTOP, "ana")
    page.get_by_label("Product line").select_option(GERMAN)  # the script submits the choice
    page.wait_for_url(re.compile(r"/queue\?product=german_credit"))
    page.get_by_label("Queue", exact=True).select_option("standard_review")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"queue=standard_review"))
    assert case_ids(page) == ["GC-0188"]
    screenshot(page, "queue-desktop")

    page.locator("body").press("j")  # j/k move through the queue
    assert page.evaluate("document.activeElement.textContent") == "GC-0188"
    page.keyboard.press("c")  # c claims the next case and opens it
    page.wait_for_url(re.compile(r"/cases/german_credit/GC-0188$"))
    assert "You claimed case GC-0188" in page.locator(".flash").inner_text()
    assert (
        page.locator("#decision-adverse-R01").is_checked()
        or page.locator("fieldset.reasons input[name=adverse_action_reasons]:checked").count() > 0
    )  # the model's reasons are pre-filled
    screenshot(page, "case-desktop")

    page.keyboard.press("d")  # d goes to the decision form
    assert page.evaluate("document.activeElement.id") == "outcome-approve"
    page.keyboard.press("ArrowDown")  # the radio group: approve -> decline
    assert page.locator("#outcome-decline").is_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # the first reason code
    first_reason = page.locator("fieldset.reasons").first.locator("input").first
    assert first_reason.is_checked()
    page.locator("#decision-note").focus()
    page.keyboard.type("Checked the bank statements: repayments exceed the income.")
    page.get_by_role("button", name="Record decision").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/queue\?product=german_credit$"))
    assert "Case GC-0188 decided: decline." in page.locator(".flash").inner_text()
    assert "GC-0188" not in case_ids(page)  # it left the queue


def test_compliance_verifies_exports_and_finds_the_decision(open_page, server, tmp_path):
    headers = {"Authorization": f"Bearer {server.tokens['bob']}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as bob:
        assert bob.post(f"/api/v1/products/{GERMAN}/cases/GC-0091/claim").status_code == 200
        body = {"outcome": "approve", "reason_codes": ["QA_CONFIRMED"], "note": "QA: the approval holds."}
        decided = bob.post(f"/api/v1/products/{GERMAN}/cases/GC-0091/decision", json=body)
        assert decided.status_code == 200, decided.text
    page = open_page(DESKTOP, "cora")
    page.goto("/compliance/audit")
    page.get_by_role("button", name="Verify the whole chain now").click()
    page.wait_for_load_state()
    assert "The chain holds" in page.locator(".flash").inner_text()
    assert "the chain holds" in page.locator("#last-verification").inner_text()

    search = page.get_by_role("form", name="Search the audit log")
    search.get_by_label("Case id", exact=True).fill("GC-0091")
    search.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"case_id=GC-0091"))
    assert "Decided on review: approve by bob" in page.locator("#audit-results").inner_text()
    screenshot(page, "audit-desktop")

    page.locator("#x-product").select_option(GERMAN)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the export (zip)").click()
    archive = tmp_path / "export.zip"
    download_info.value.save_as(archive)
    folder = tmp_path / "export"
    zipfile.ZipFile(archive).extractall(folder)
    assert verify_export(folder).ok
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    found = [e for e in events if e["case_id"] == "GC-0091" and e["kind"] == "review_decided"]
    assert (
        len(found) == 1
        and found[0]["actor"] == "bob"
        and found[0]["payload"]["note"] == "QA: the approval holds."
    )


def test_risk_backtests_a_candidate_and_reads_the_fairness_table(open_page):
    text = (ROOT / "policies" / f"{GERMAN}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^version: 1$", "version: 2", text, count=1, flags=re.M)
    text = text.replace("approve_below: 0.15", "approve_below: 0.18", 1)
    page = open_page(DESKTOP, "rita")
    page.goto(f"/risk/backtests?product={GERMAN}")
    page.get_by_label("Policy text (YAML)").fill(text)
    page.get_by_role("button", name="Run the backtest").click()
    page.wait_for_url(re.compile(r"/risk/backtests/\d{8}T\d{6}Z-[0-9a-f]{8}$"), timeout=120_000)
    table = page.locator("#fairness-table")
    assert table.is_visible()
    rows = table.locator("tbody tr")
    assert rows.count() >= 5
    assert "reference" in table.inner_text() and "sex" in table.inner_text()
    assert page.locator("#gates-table").is_visible()
    screenshot(page, "backtest-desktop")
    page.get_by_role("link", name="Open the full report (printable, with plots)").click()
    page.wait_for_url(re.compile(r"/report$"), timeout=120_000)
    assert page.locator("svg").count() >= 2  # the backtest's own plots
    screenshot(page, "backtest-report-desktop")


def test_an_underwriter_cannot_open_risk_or_compliance_pages(open_page):
    page = open_page(DESKTOP, "ana")
    nav = page.get_by_role("navigation", name="Main").inner_text()
    assert "Queue" in nav and "Policies" not in nav and "Audit log" not in nav and "Backtests" not in nav
    for path in (
        "/risk/policies",
        "/risk/backtests",
        "/compliance/audit",
        "/compliance/fairness",
        "/overview",
    ):
        response = page.goto(path)
        assert response.status == 403, path
        assert page.get_by_role("heading", name="Not for your role").is_visible()
    screenshot(page, "forbidden-desktop")
