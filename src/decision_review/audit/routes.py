"""HTTP routes for the audit log: search, verify, export (compliance)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from decision_review.api.deps import ServicesDep, permit
from decision_review.api.errors import Forbidden
from decision_review.audit import service
from decision_review.audit.schemas import EventsOut, ExportIn, VerifyOut
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

AuditReader = Annotated[Principal, Depends(permit(Permission.READ_AUDIT))]
AuditVerifier = Annotated[Principal, Depends(permit(Permission.VERIFY_AUDIT))]
AuditExporter = Annotated[Principal, Depends(permit(Permission.EXPORT_AUDIT))]


def _product_for(principal: Principal, product: str | None) -> str | None:
    """A user limited to product lines reads only theirs: the filter must name one of them (or
    is set to their only one)."""
    if not principal.products:
        return product
    if product is None:
        if len(principal.products) == 1:
            return principal.products[0]
        raise Forbidden(
            f"forbidden: name one of your product lines ({', '.join(principal.products)}) as `product`"
        )
    if product not in principal.products:
        raise Forbidden(f"forbidden: user {principal.name} is not allowed product line {product!r}")
    return product


@router.get("/events", response_model=EventsOut, summary="Search the audit log")
def search(
    principal: AuditReader,
    services: ServicesDep,
    product: str | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    actor: Annotated[
        str | None, Query(description="Only events by this actor (a user name, `system`, `cli:<login>`).")
    ] = None,
    since: Annotated[str | None, Query(description="Date or ISO time, included.")] = None,
    until: Annotated[
        str | None, Query(description="Date (whole day included) or ISO time (excluded).")
    ] = None,
    after_seq: Annotated[int, Query(ge=0, le=service.MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_SEARCH)] = 100,
) -> dict[str, Any]:
    with services.db.read() as session:
        events = service.search(
            session, product=_product_for(principal, product), case_id=case_id, kind=kind, actor=actor,
            since=since, until=until, after_seq=after_seq, limit=limit,
        )  # fmt: skip
    return {"events": events, "next_after_seq": service.next_after(events, limit)}


@router.post("/verify", response_model=VerifyOut, summary="Verify the whole hash chain (recorded)")
def verify(principal: AuditVerifier, services: ServicesDep) -> dict[str, Any]:
    report = service.verify_chain(services.db.engine, services.db.write, principal.name)
    return {**report.to_payload(), "summary": report.summary()}


@router.post(
    "/exports",
    summary="Export events as a zip (manifest.json + events file); recorded",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The export directory, zipped"}},
)
def export(body: ExportIn, principal: AuditExporter, services: ServicesDep) -> Response:
    """Verify the download with `decision-review audit verify-export DIR` after unzipping, or with
    the stdlib-only script in docs/audit-export.md."""
    data, manifest, name = service.export_zip(
        services.db.engine, services.db.write, services.settings.exports_dir, actor=principal.name,
        start=body.start, end=body.end, product=_product_for(principal, body.product), case_id=body.case_id,
        kind=body.kind, fmt=body.format,
    )  # fmt: skip
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.zip"',
        "X-DR-Export-Count": str(manifest["count"]),
        "X-DR-Export-Last-Hash": str(manifest["last_hash"]),
    }
    return Response(data, media_type="application/zip", headers=headers)
