"""HTTP routes for product lines, the stop switch and the model registry (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from decision_review.api.deps import ServicesDep
from decision_review.products.auth import ModelReader, ProductReader, Switcher
from decision_review.products.schemas import ControlOut, ModelOut, ProductOut, SwitchIn
from decision_review.products.service import LiveProduct, control, live_products, set_auto_decisions
from decision_review.store.tables import MAX_BIGINT

router = APIRouter(prefix="/api/v1", tags=["products"])


def _product(live: LiveProduct, switch: Any, *, with_contract: bool) -> dict[str, Any]:
    policy = live.engine.policy
    model = live.engine.model
    out: dict[str, Any] = {
        "product": live.product,
        "policy": {"name": policy.name, "version": live.policy_version, "digest": policy.digest},
        "model": {"name": model.name, "version": model.version, "digest": model.digest},
        "control": switch.__dict__,
        "queues": {
            name: {"sla_minutes": int(q.sla.total_seconds() // 60), "description": q.description}
            for name, q in policy.spec.queues.items()
        },
    }
    if with_contract:
        contract = model.contract
        out["contract"] = {
            "id_field": contract.id_field,
            "fields": [
                {
                    "name": f.name,
                    "kind": f.kind.value,
                    "required": not f.nullable,
                    "categories": f.categories,
                    "minimum": f.minimum,
                    "maximum": f.maximum,
                    "description": f.description,
                }
                for f in contract.fields
            ],
        }
    return out


@router.get("/products", response_model=list[ProductOut], summary="Product lines you may see")
def list_products(principal: ProductReader, services: ServicesDep) -> list[dict[str, Any]]:
    out = []
    with services.db.read() as session:
        for product in principal.visible(live_products(session)):
            out.append(
                _product(
                    services.catalog.live(session, product), control(session, product), with_contract=False
                )
            )
    return out


@router.get(
    "/products/{product}",
    response_model=ProductOut,
    summary="A product line: policy, model, switch, contract",
)
def get_product(product: str, principal: ProductReader, services: ServicesDep) -> dict[str, Any]:
    with services.db.read() as session:
        return _product(
            services.catalog.live(session, product), control(session, product), with_contract=True
        )


@router.put("/products/{product}/auto-decisions", response_model=ControlOut, summary="The stop switch")
def switch_auto_decisions(product: str, body: SwitchIn, principal: Switcher, services: ServicesDep) -> Any:
    """Turn automatic decisions off (every new case goes to review) or back on. Audited."""
    with services.db.write() as session:
        return set_auto_decisions(
            session, product, enabled=body.enabled, note=body.note, actor=principal.name
        ).__dict__


@router.get("/models", response_model=list[ModelOut], tags=["models"], summary="Models in the registry")
def list_models(principal: ModelReader, services: ServicesDep) -> list[dict[str, Any]]:
    registry = services.registry
    return [{"name": name, "versions": registry.versions(name)} for name in registry.list()]


@router.get("/models/{name}/{version}", tags=["models"], summary="A model's card")
def get_model(
    name: str,
    version: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    principal: ModelReader,
    services: ServicesDep,
) -> dict[str, Any]:
    return services.registry.card(name, version).model_dump(mode="json")
