"""Who may read, check and publish policies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from decision_review.api.deps import permit
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

PolicyReader = Annotated[Principal, Depends(permit(Permission.READ_POLICIES))]
PolicyChecker = Annotated[Principal, Depends(permit(Permission.CHECK_POLICIES))]
Publisher = Annotated[Principal, Depends(permit(Permission.PUBLISH_POLICIES))]
