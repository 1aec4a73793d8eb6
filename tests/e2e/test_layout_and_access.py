"""The main pages at 1280x800 and at 390x844: no sideways scrolling, the key control of each page
reachable on screen, every form field labelled, text contrast of at least 4.5:1 (3:1 for large
text), a visible focus ring and a working skip link. Each page is saved as a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, screenshot

pytestmark = pytest.mark.e2e

CHECKS = (Path(__file__).parent / "page_checks.js").read_text(encoding="utf-8")
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def check(page, name: str, viewport: dict[str, int], key_control) -> None:
    """The page fits, its key control is on screen, fields are labelled, text contrast holds."""
    assert page.evaluate(OVERFLOW) <= 0, f"{name}: the page scrolls sideways"
    key_control.scroll_into_view_if_needed()
    box = key_control.bounding_box()
    assert box is not None and key_control.is_visible(), f"{name}: key control not visible"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, (
        f"{name}: key control off screen"
    )
    # evaluated through the devtools protocol, so the page's CSP (no inline script) stays in force
    assert page.evaluate(f"() => {{ {CHECKS}\n return drChecks.unlabelled(); }}") == [], f"{name}: unlabelled"
    assert page.evaluate(f"() => {{ {CHECKS}\n return drChecks.contrast(); }}") == [], f"{name}: low contrast"
    screenshot(page, f"{name}-{'desktop' if viewport is DESKTOP else 'phone'}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
def test_underwriter_pages_fit_and_are_usable(open_page, viewport):
    page = open_page(viewport)
    page.goto("/sign-in")
    check(page, "sign-in", viewport, page.get_by_role("button", name="Sign in"))
    page = open_page(viewport, "bob")
    page.goto("/queue?product=german_credit")
    check(page, "queue", viewport, page.get_by_role("button", name="Claim next case"))
    # cases no other browser test changes
    case = (
        "german_credit/large_loan_referred"
        if viewport is DESKTOP
        else "fraud_alerts/velocity_burst_investigated"
    )
    page.goto(f"/cases/{case}")
    page.get_by_role("button", name="Claim this case").click()
    page.wait_for_load_state()
    check(page, "case", viewport, page.get_by_role("button", name="Record decision"))
    page.goto("/cases/fraud_alerts/moderate_score_investigated")
    check(page, "case-fraud", viewport, page.get_by_role("heading", name="What moved the score"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
def test_compliance_and_risk_pages_fit_and_are_usable(open_page, viewport):
    page = open_page(viewport, "cora")
    page.goto("/overview?product=german_credit")
    check(
        page, "overview", viewport, page.get_by_role("heading", name="Score drift against the training data")
    )
    page.goto("/compliance/audit")
    check(page, "audit", viewport, page.get_by_role("button", name="Verify the whole chain now"))
    page.goto("/compliance/fairness?product=german_credit")
    check(page, "fairness", viewport, page.get_by_role("heading", name="Final decisions"))
    page.goto("/compliance/notices/german_credit/GC-0005")
    check(
        page, "notice", viewport, page.get_by_role("heading", name="The principal reasons for our decision")
    )
    page = open_page(viewport, "rita")
    page.goto("/risk/policies?product=german_credit")
    check(page, "policies", viewport, page.get_by_role("link", name="Backtest a candidate"))
    page.goto("/risk/backtests?product=german_credit")
    check(page, "backtests", viewport, page.get_by_role("button", name="Run the backtest"))


def test_keyboard_focus_is_visible_and_the_skip_link_works(open_page):
    page = open_page(DESKTOP, "ana")
    page.goto("/queue?product=german_credit")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content" and skip.is_visible()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the next stop is inside the main content, not the header
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")
    page.keyboard.press("/")  # the search shortcut
    assert page.evaluate("document.activeElement.id") == "case-search"
    page.keyboard.type("GC-0001")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/german_credit/GC-0001")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
