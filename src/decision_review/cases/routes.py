"""HTTP routes for cases: thin adapters that parse, authorise and call one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Response, UploadFile

from decision_review.api.deps import ServicesDep
from decision_review.api.responses import FastJSONResponse
from decision_review.cases import batch, detail, service
from decision_review.cases.auth import CaseReader, DecisionReader, OutcomeRecorder, Submitter
from decision_review.cases.schemas import (
    CASE_EXAMPLE,
    BatchIn,
    BatchOut,
    CaseDetailOut,
    DecisionOut,
    JsonScalar,
    OutcomeIn,
    OutcomeOut,
    SubmissionOut,
    decision_out,
    submission_out,
)
from decision_review.cases.service import CaseResult
from decision_review.cases.validation import CaseInvalid
from decision_review.errors import Conflict
from decision_review.schemas import Role

router = APIRouter(prefix="/api/v1/products/{product}/cases", tags=["cases"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown product line or case"},
    409: {"description": "The case id was submitted before with different inputs"},
    422: {"description": "The case does not fit the product's input contract (each field named)"},
}


def _batch_response(product: str, results: list[CaseResult]) -> FastJSONResponse:
    counts: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.decision is not None:
            outcomes[r.decision.outcome] = outcomes.get(r.decision.outcome, 0) + 1
    body = {
        "product": product,
        "counts": counts,
        "outcomes": outcomes,
        "results": [submission_out(r) for r in results],
    }
    return FastJSONResponse(body, status_code=201 if counts.get("created") else 200)


@router.post(
    "",
    status_code=201,
    response_model=SubmissionOut,
    summary="Submit one case and get its decision at once",
    responses={
        200: {"description": "A duplicate: the stored decision (nothing written)", "model": SubmissionOut},
        **ERRORS,
    },
)
async def submit_case(
    product: str,
    case: Annotated[dict[str, JsonScalar], Body(openapi_examples={"case": {"value": CASE_EXAMPLE}})],
    principal: Submitter,
    services: ServicesDep,
    response: Response,
) -> dict[str, Any]:
    """Decide one case. Idempotent on its id: a retry with the same inputs returns the stored
    decision (200, `duplicate: true`); the same id with other inputs is a 409."""
    result = await services.intake.submit(product, case, principal.name)
    if result.status == "conflict":
        raise Conflict(result.error or "conflict")
    if result.status == "invalid":
        raise CaseInvalid(
            result.case_id or None, result.problems or [{"field": None, "message": result.error}]
        )
    response.status_code = 200 if result.duplicate else 201
    return submission_out(result)


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchOut,
    summary="Submit a batch of cases (JSON)",
    responses={
        200: {"description": "Nothing new: every case was a duplicate or invalid", "model": BatchOut},
        **ERRORS,
    },
)
def submit_batch(
    product: str, body: BatchIn, principal: Submitter, services: ServicesDep
) -> FastJSONResponse:
    """Decide many cases in one call; one result per case, in order (invalid ones not stored)."""
    with services.db.read() as session:
        live = services.catalog.live(session, product)
    results = batch.submit_records(
        services.db, live, body.cases, actor=principal.name, explain=body.explain,
        max_cases=services.settings.max_batch_cases, chunk_size=services.settings.batch_write_chunk,
    )  # fmt: skip
    return _batch_response(product, results)


@router.post(
    "/upload",
    status_code=201,
    response_model=BatchOut,
    summary="Submit a batch of cases as a CSV or Parquet file",
    responses={
        200: {"description": "Nothing new", "model": BatchOut},
        400: {"description": "Unreadable file"},
        **ERRORS,
    },
)
def submit_upload(
    product: str,
    principal: Submitter,
    services: ServicesDep,
    file: Annotated[
        UploadFile, File(description="CSV (header row) or Parquet: the id column and every contract field.")
    ],
    explain: Annotated[str, Form(pattern="^(needed|all)$")] = "needed",
) -> FastJSONResponse:
    """Decide every row of a file; the engine checks each row (see docs/api.md, "Batches")."""
    with services.db.read() as session:
        live = services.catalog.live(session, product)
    frame = batch.read_upload(
        file.file.read(), file.filename, file.content_type, live.engine.model.contract,
        max_cases=services.settings.max_batch_cases,
    )  # fmt: skip
    results = batch.submit_frame(
        services.db, live, frame, actor=principal.name, explain=explain,  # type: ignore[arg-type]
        max_cases=services.settings.max_batch_cases, chunk_size=services.settings.batch_write_chunk,
    )  # fmt: skip
    return _batch_response(product, results)


@router.get(
    "/{case_id}/decision",
    response_model=DecisionOut,
    summary="The decision in force on a case",
    responses=ERRORS,
)
def get_decision(
    product: str, case_id: str, principal: DecisionReader, services: ServicesDep
) -> dict[str, Any]:
    with services.db.read() as session:
        return decision_out(service.decision_of(session, product, case_id))  # type: ignore[return-value]


@router.get("/{case_id}", response_model=CaseDetailOut, summary="Everything about a case", responses=ERRORS)
def get_case(product: str, case_id: str, principal: CaseReader, services: ServicesDep) -> dict[str, Any]:
    """Inputs, score, reasons with SHAP contributions, rules fired, versions, review state,
    approvals, outcomes and the case's audit history. Protected attributes: compliance only."""
    with services.db.read() as session:
        live = services.catalog.live(session, product)
        out = detail.case_detail(
            session, services.catalog, live, case_id, include_protected=principal.role is Role.COMPLIANCE
        )
    out["decision"] = decision_out(out["decision"])
    return out


@router.post(
    "/{case_id}/outcomes",
    status_code=201,
    response_model=OutcomeOut,
    summary="Record what later happened",
    responses=ERRORS,
)
def record_outcome(
    product: str, case_id: str, body: OutcomeIn, principal: OutcomeRecorder, services: ServicesDep
) -> dict[str, Any]:
    """Record the real outcome (repaid / defaulted, fraud confirmed / not): labels for retraining."""
    with services.db.write() as session:
        return service.record_outcome(
            session,
            product,
            case_id,
            bad=body.bad,
            description=body.description,
            note=body.note,
            actor=principal.name,
        )
