"""What each role may do: the one table every endpoint's check reads (docs/api.md prints it).

Why permissions rather than roles in the routes: a route names what it does ("work the review
queue"), and this table alone says who may. Changing who may do what is then one edit here, seen by
every endpoint and by the test that checks the matrix endpoint by endpoint.
"""

from __future__ import annotations

from enum import StrEnum

from decision_review.schemas import Role


class Permission(StrEnum):
    SUBMIT_CASES = "submit cases"
    READ_DECISION = "read a case's decision"
    READ_CASES = "read case details and the queue"
    RECORD_OUTCOMES = "record outcomes"
    WORK_REVIEWS = "claim, decide, escalate, override, approve"
    READ_AUDIT = "search the audit log"
    VERIFY_AUDIT = "verify the audit log"
    EXPORT_AUDIT = "export the audit log"
    READ_REPORTS = "read metrics and reports"
    READ_POLICIES = "read policies"
    CHECK_POLICIES = "lint and test policies"
    PUBLISH_POLICIES = "publish policies"
    READ_MODELS = "read models"
    SWITCH_AUTO_DECISIONS = "switch automatic decisions off and on"
    MANAGE_WEBHOOKS = "manage alert webhooks"
    MANAGE_USERS = "manage users and tokens"
    READ_PRODUCTS = "see product lines"


_ALL = frozenset(Role)

ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.SUBMIT_CASES: frozenset({Role.INTAKE}),
    Permission.READ_DECISION: frozenset({Role.INTAKE, Role.UNDERWRITER, Role.COMPLIANCE, Role.RISK}),
    Permission.READ_CASES: frozenset({Role.UNDERWRITER, Role.COMPLIANCE, Role.RISK}),
    Permission.RECORD_OUTCOMES: frozenset({Role.INTAKE, Role.UNDERWRITER}),
    Permission.WORK_REVIEWS: frozenset({Role.UNDERWRITER}),
    Permission.READ_AUDIT: frozenset({Role.COMPLIANCE}),
    Permission.VERIFY_AUDIT: frozenset({Role.COMPLIANCE}),
    Permission.EXPORT_AUDIT: frozenset({Role.COMPLIANCE}),
    Permission.READ_REPORTS: frozenset({Role.COMPLIANCE, Role.RISK, Role.ADMIN}),
    Permission.READ_POLICIES: frozenset({Role.UNDERWRITER, Role.COMPLIANCE, Role.RISK}),
    Permission.CHECK_POLICIES: frozenset({Role.COMPLIANCE, Role.RISK}),
    Permission.PUBLISH_POLICIES: frozenset({Role.RISK}),
    Permission.READ_MODELS: frozenset({Role.COMPLIANCE, Role.RISK}),
    Permission.SWITCH_AUTO_DECISIONS: frozenset({Role.RISK, Role.ADMIN}),
    Permission.MANAGE_WEBHOOKS: frozenset({Role.RISK, Role.ADMIN}),
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
    Permission.READ_PRODUCTS: _ALL,
}

assert set(ROLE_PERMISSIONS) == set(Permission), "every permission names its roles"


def allowed(role: Role | str, permission: Permission) -> bool:
    return Role(role) in ROLE_PERMISSIONS[permission]
