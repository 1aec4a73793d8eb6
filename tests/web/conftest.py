"""Page tests share the web fixtures of tests/web/support.py (also used by tests/e2e)."""

from tests.web.support import pages, pg_pages, pg_web_template, web_app, web_template, web_url  # noqa: F401
