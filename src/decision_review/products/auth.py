"""Who may see product lines and models, and who may stop automatic decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from decision_review.api.deps import permit
from decision_review.users.permissions import Permission
from decision_review.users.service import Principal

ProductReader = Annotated[Principal, Depends(permit(Permission.READ_PRODUCTS))]
Switcher = Annotated[Principal, Depends(permit(Permission.SWITCH_AUTO_DECISIONS))]
ModelReader = Annotated[Principal, Depends(permit(Permission.READ_MODELS))]
