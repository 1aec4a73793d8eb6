"""Who may see the queue and who may work it (the role matrix: users.permissions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from decision_review.api.deps import permit
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

QueueReader = Annotated[Principal, Depends(permit(Permission.READ_CASES))]
Reviewer = Annotated[Principal, Depends(permit(Permission.WORK_REVIEWS))]
