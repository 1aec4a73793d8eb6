"""Who may submit cases, read them and record their outcomes (the role matrix: users.permissions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from decision_review.api.deps import permit
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

Submitter = Annotated[Principal, Depends(permit(Permission.SUBMIT_CASES))]
DecisionReader = Annotated[Principal, Depends(permit(Permission.READ_DECISION))]
CaseReader = Annotated[Principal, Depends(permit(Permission.READ_CASES))]
OutcomeRecorder = Annotated[Principal, Depends(permit(Permission.RECORD_OUTCOMES))]
