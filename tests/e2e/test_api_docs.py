"""The API's interactive docs work in a browser with no internet: Swagger UI and ReDoc, their
scripts and styles, are served by this app (package `fastapi-offline`), not fetched from a CDN (a
bank's network, like this test machine, often reaches none; FastAPI's own pages were blank here).
Images are left out of the check: ReDoc's footer asks cdn.redoc.ly for its logo, which offline
is just not shown.
"""

from __future__ import annotations

from tests.e2e.conftest import screenshot

NEEDED = {"script", "stylesheet", "fetch", "xhr", "font", "document"}


def _outside_requests(page, base_url: str) -> list[str]:
    """Every script, style, font or data request the page makes to anywhere but this app."""
    outside: list[str] = []

    def seen(request) -> None:
        local = request.url.startswith((base_url, "blob:", "data:"))
        if request.resource_type in NEEDED and not local:
            outside.append(request.url)

    page.on("request", seen)
    return outside


def test_swagger_ui_shows_every_operation_offline(open_page, server):
    page = open_page()
    outside = _outside_requests(page, server.base_url)
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    operations = [op for methods in server.app.openapi()["paths"].values() for op in methods.values()]
    # Swagger UI lists an operation once under each of its tags.
    assert page.locator(".opblock").count() == sum(len(op.get("tags") or ["default"]) for op in operations)
    page.locator(".opblock-summary", has_text="/api/v1/products/{product}/cases/batch").first.click()
    page.get_by_text("Submit a batch of cases (JSON)").first.wait_for()
    screenshot(page, "api-docs-swagger")
    assert outside == []


def test_redoc_renders_offline(open_page, server):
    page = open_page()
    outside = _outside_requests(page, server.base_url)
    page.goto("/redoc")
    page.get_by_role("heading", name="Submit a batch of cases (JSON)").first.wait_for()
    assert outside == []
