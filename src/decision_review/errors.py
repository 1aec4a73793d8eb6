"""Errors a user can act on. Each message says what was wrong, where, and what to do.

Adapters (CLI, API, pages) turn these into a clear message or a 4xx; anything else that
escapes is a bug in this package, never the caller's fault.
"""


class DecisionReviewError(Exception):
    """Base of every error caused by the user's input, files or configuration."""


class InvalidInput(DecisionReviewError):
    """A data file, case or request that does not fit what is expected."""


class NotFound(DecisionReviewError):
    """A named thing (model, policy, case, decision, user) that does not exist."""


class Conflict(DecisionReviewError):
    """A request that clashes with the current state (claimed by another, already decided, ...)."""


class IntegrityError(DecisionReviewError):
    """Stored content that fails its digest or hash chain: possible tampering."""
