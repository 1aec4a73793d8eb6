"""HTTP routes for policies: list, show, live version, lint, test, publish."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from decision_review.api.deps import ServicesDep
from decision_review.policies import service
from decision_review.policies.auth import PolicyChecker, PolicyReader, Publisher
from decision_review.policies.schemas import CheckOut, PolicyTextIn, PolicyVersionOut, PublishIn

router = APIRouter(prefix="/api/v1", tags=["policies"])


@router.get(
    "/products/{product}/policies", response_model=list[PolicyVersionOut], summary="Published versions"
)
def list_versions(product: str, principal: PolicyReader, services: ServicesDep) -> list[dict[str, Any]]:
    with services.db.read() as session:
        return [dataclasses.asdict(v) for v in service.list_versions(session, product)]


@router.get("/products/{product}/policies/live", response_model=PolicyVersionOut, summary="The live version")
def live_version(product: str, principal: PolicyReader, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        return dataclasses.asdict(service.live_version(session, product))


@router.get(
    "/products/{product}/policies/{version}",
    response_model=PolicyVersionOut,
    summary="One version, with its text",
)
def get_version(product: str, version: str, principal: PolicyReader, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        return dataclasses.asdict(service.get_version(session, product, version))


@router.post("/policies/lint", response_model=CheckOut, summary="Check a policy text (nothing is published)")
def lint(body: PolicyTextIn, principal: PolicyChecker, services: ServicesDep) -> dict[str, Any]:
    """Schema, conditions against the model's contract, golden cases' fields; `ok` false: see problems."""
    return dataclasses.asdict(service.check_text(body.yaml, services.registry, run_cases=False))


@router.post("/policies/test", response_model=CheckOut, summary="Run a policy text's golden cases")
def test(body: PolicyTextIn, principal: PolicyChecker, services: ServicesDep) -> dict[str, Any]:
    """Lint, then decide every golden case with the real model and compare with its expectation."""
    return dataclasses.asdict(service.check_text(body.yaml, services.registry, run_cases=True))


@router.post(
    "/products/{product}/policies",
    status_code=201,
    response_model=PolicyVersionOut,
    summary="Publish a new version (it becomes live)",
    responses={
        409: {"description": "Version not above the published ones, or the same content again"},
        422: {"description": "Does not lint, a golden case or a gate fails"},
    },
)
def publish(product: str, body: PublishIn, principal: Publisher, services: ServicesDep) -> dict[str, Any]:
    """Lint, golden cases and gates must pass; the previous live version stays stored. Audited."""
    with services.db.write() as session:
        version = service.publish(
            session, body.yaml, services.registry, actor=principal.name, note=body.note, product=product,
            gates=service.justified(services.publish_gates, body.justification),
            source=f"policy published by {principal.name}",
        )  # fmt: skip
    return dataclasses.asdict(version)
