"""Who may manage users and tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from decision_review.api.deps import permit
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

UserAdmin = Annotated[Principal, Depends(permit(Permission.MANAGE_USERS))]
