"""Domain exceptions; handlers map them to responses."""

from typing import Any


class PrediagError(Exception):
    """Base of every error the domain raises on purpose."""


class ConfigurationError(PrediagError):
    """The environment is missing a setting the function needs."""


class NotFoundError(PrediagError):
    """No such record (or the caller may not know it exists)."""


class ConflictError(PrediagError):
    """A conditional write found the record in another state; `current` is that record as the
    write found it (None when the adapter could not tell)."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


class EnqueueError(PrediagError):
    """The job could not be handed to the queue; the submission was not accepted."""


class ForbiddenError(PrediagError):
    """The caller is authenticated but may not use this route."""


class InvalidRequestError(PrediagError):
    """The request is well formed but cannot be served as asked (a bad cursor, a missing filter).

    `field` names the parameter at fault and `location` where it was sent (query, header, body).
    """

    def __init__(self, field: str, message: str, *, location: str = "query") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class AnalysisError(PrediagError):
    """The analysis could not be produced. `retryable` says whether another attempt may help."""

    retryable: bool = True
