"""Property-based test over the OpenAPI description: whatever schemathesis generates for each
operation (valid and invalid bodies, parameters and paths), the API never answers 5xx.

Each operation is called as a user whose role may use it (from the role matrix), so the generated
requests reach the services instead of stopping at the permission check. Negative data (bodies
and parameters that break the schema) is generated as well as positive.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from tests.api.test_role_matrix import MATRIX, USER_OF

PREFERRED = ("underwriter", "compliance", "risk", "intake", "admin")
EXAMPLES = 20


def _user_for(method: str, path: str) -> str:
    for m, template, _, _, roles in MATRIX:
        if (m, template) == (method, path):
            return USER_OF[next(r for r in PREFERRED if r in roles)]
    return "adam"


def _explore(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """Call one operation with generated requests; record every 5xx."""
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]!r}"[:400]
            )

    call()


def test_no_request_gets_a_server_error(sqlite_api):
    schema = schemathesis.openapi.from_asgi("/openapi.json", sqlite_api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(MATRIX) + 1  # every route, and /health
    failures: list[str] = []
    for operation in operations:
        user = _user_for(operation.method.upper(), operation.path)
        _explore(operation, {"Authorization": f"Bearer {sqlite_api.tokens[user]}"}, failures)
    assert not failures, "\n".join(failures[:20])


def _unbounded_integers(schema: dict, components: dict, where: str) -> list[str]:
    """Integer inputs (parameters, request-body fields) with no maximum, found recursively."""
    if "$ref" in schema:
        schema = components[schema["$ref"].split("/")[-1]]
    found = [where] if schema.get("type") == "integer" and "maximum" not in schema else []
    for alternative in schema.get("anyOf", []):
        found += _unbounded_integers(alternative, components, where)
    for name, field in schema.get("properties", {}).items():
        found += _unbounded_integers(field, components, f"{where}.{name}")
    if "items" in schema:
        found += _unbounded_integers(schema["items"], components, f"{where}[]")
    return found


def test_every_integer_input_has_a_maximum(sqlite_api):
    """Python's integers have no bound and the databases' do: an unbounded `after_seq` reached
    SQLite as 10**20 and was a 500 (schemathesis had not drawn such a number)."""
    spec = sqlite_api.app.openapi()
    components = spec.get("components", {}).get("schemas", {})
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
                unbounded += _unbounded_integers(parameter["schema"], components, where)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded_integers(
                    content["schema"], components, f"{method.upper()} {path} body"
                )
    assert not unbounded, unbounded
