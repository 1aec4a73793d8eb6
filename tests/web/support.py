"""Fixtures for the page tests and the browser tests: a database with people who have passwords and
the bundled policies' golden cases decided, an app on a copy of it, and signed-in page clients.

Why a template again: giving nine users a scrypt password and deciding both policies' golden cases
takes seconds; done once per session into a SQLite file, every test starts from a copy of it.
The users are those of tests/fixtures/api.py (ana and bob underwriters, cora compliance, rita risk,
adam admin, fiona an underwriter and carl a compliance officer limited to fraud alerts).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.golden import golden
from tests.fixtures.api import build_app

PASSWORD = "correct horse battery"
PEOPLE = ("ana", "bob", "cora", "rita", "adam", "fiona", "carl", "intake")
PRODUCTS = ("german_credit", "fraud_alerts")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def seed(url: str, home: Path, catalog: Any, tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """Give PEOPLE a password and submit every golden case of both products (as `intake`).

    Returns product -> case id -> the outcome the engine gave it.
    """
    from fastapi.testclient import TestClient

    from decision_review.store.db import make_engine, make_session_factory
    from decision_review.users.service import set_password

    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            for name in PEOPLE:
                set_password(session, name, PASSWORD, actor="test-setup")
    finally:
        engine.dispose()
    outcomes: dict[str, dict[str, str]] = {}
    with TestClient(build_app(url, home, catalog)) as client:
        client.headers["Authorization"] = f"Bearer {tokens['intake']}"
        for product in PRODUCTS:
            for case_id, case in golden(product).items():
                response = client.post(f"/api/v1/products/{product}/cases", json=case)
                assert response.status_code == 201, response.text
                outcomes.setdefault(product, {})[case_id] = response.json()["decision"]["outcome"]
    return outcomes


@dataclass
class WebTemplate:
    path: Path
    tokens: dict[str, str]
    outcomes: dict[str, dict[str, str]]


@pytest.fixture(scope="session")
def web_template(sqlite_api_template, tmp_path_factory, api_catalog) -> WebTemplate:
    source, tokens = sqlite_api_template
    folder = tmp_path_factory.mktemp("web-template")
    path = folder / "web.db"
    shutil.copyfile(source, path)
    outcomes = seed(f"sqlite:///{path}", folder, api_catalog, tokens)
    return WebTemplate(path, tokens, outcomes)


@pytest.fixture
def web_url(web_template, tmp_path) -> str:
    path = tmp_path / "web.db"
    shutil.copyfile(web_template.path, path)
    return f"sqlite:///{path}"


@pytest.fixture
def web_app(web_url, tmp_path, api_catalog):
    return build_app(web_url, tmp_path, api_catalog)


class PageClient:
    """A browser-like client for one person: cookies kept, the CSRF token found on the last page."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.csrf = ""

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(url, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any):
        body = dict(data or {})
        if csrf:
            if not self.csrf:
                self.get("/nothing-here")
            body.setdefault("csrf_token", self.csrf)
        response = self.client.post(url, data=body, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        page = self.client.get("/sign-in")
        token = CSRF.search(page.text).group(1)
        response = self.client.post(
            "/sign-in", data={"name": name, "password": password, "csrf_token": token, "next": "/"}
        )
        if response.status_code == 303:
            self.get("/nothing-here")  # picks up the session's CSRF token
        return response


@dataclass
class Pages:
    app: Any
    url: str

    def client(self, name: str | None = None, *, base_url: str = "http://testserver") -> PageClient:
        from fastapi.testclient import TestClient

        client = PageClient(TestClient(self.app, base_url=base_url, follow_redirects=False))
        self._open.append(client.client)
        if name is not None:
            response = client.sign_in(name)
            assert response.status_code == 303, response.text
        return client

    def __post_init__(self) -> None:
        self._open: list[Any] = []

    @property
    def services(self) -> Any:
        return self.app.state.services

    def close(self) -> None:
        for client in self._open:
            client.close()


@pytest.fixture
def pages(web_app, web_url) -> Iterator[Pages]:
    """Page clients on a fresh copy of the web template: `pages.client("ana").get("/queue")`."""
    from fastapi.testclient import TestClient

    with TestClient(web_app):  # runs the app's lifespan once
        result = Pages(web_app, web_url)
        try:
            yield result
        finally:
            result.close()


@pytest.fixture(scope="session")
def pg_web_template(pg_server_url, pg_api_template, tmp_path_factory, api_catalog) -> Iterator[WebTemplate]:
    """The web template on PostgreSQL: a database cloned from the API's template, then seeded."""
    from sqlalchemy.engine import make_url

    from tests.fixtures.store import fresh_pg_database

    name, tokens = pg_api_template
    with fresh_pg_database(pg_server_url, template=name, prefix="dr_webtpl_") as url:
        outcomes = seed(url, tmp_path_factory.mktemp("pg-web"), api_catalog, tokens)
        yield WebTemplate(Path(make_url(url).database), tokens, outcomes)


@pytest.fixture
def pg_pages(pg_server_url, pg_web_template, tmp_path, api_catalog) -> Iterator[Pages]:
    """`pages` on a fresh PostgreSQL copy of the web template."""
    from fastapi.testclient import TestClient

    from tests.fixtures.store import fresh_pg_database

    with fresh_pg_database(pg_server_url, template=str(pg_web_template.path)) as url:
        app = build_app(url, tmp_path, api_catalog)
        with TestClient(app):
            result = Pages(app, url)
            try:
                yield result
            finally:
                result.close()
