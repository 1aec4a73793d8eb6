"""Which product line a page shows: the one asked for (if the user may see it), else their first.

Product lines are side by side in every page's header; a user limited to some product lines sees
only those, and asking for another is refused (and audited) as the API refuses it.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from decision_review.errors import NotFound
from decision_review.products.service import live_products
from decision_review.web.auth import PageUser, refuse


def choose(
    request: Request, session: Session, user: PageUser, requested: str | None
) -> tuple[list[str], str | None]:
    """(the product lines this user may see, the one to show)."""
    live = live_products(session)
    visible = user.principal.visible(live)
    if requested:
        if requested not in live:
            raise NotFound(f"no product line {requested!r} (no live policy is published for it)")
        if requested not in visible:
            raise refuse(
                request, user, f"user {user.name} is not allowed product line {requested!r}", requested
            )
        return visible, requested
    return visible, visible[0] if visible else None
