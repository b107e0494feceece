"""Domain exceptions; handlers map them to responses."""

from datetime import datetime
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


class UnknownClinicError(InvalidRequestError):
    """The case names a clinic that is not registered, or no longer active (one answer for
    both: the API does not tell which clinic ids exist)."""

    def __init__(self, clinic_id: str) -> None:
        super().__init__("clinicId", "clinicId is not a registered, active clinic", location="body")
        self.clinic_id = clinic_id


class QuotaExceededError(PrediagError):
    """The caller has used their submissions for the window; `retry_at` is when one frees up."""

    def __init__(self, limit: int, window_seconds: int, retry_at: datetime) -> None:
        window = "hour" if window_seconds == 3600 else f"{window_seconds} seconds"
        super().__init__(
            f"at most {limit} submissions per {window}; the next one is possible at "
            f"{retry_at.isoformat(timespec='seconds')}"
        )
        self.limit = limit
        self.window_seconds = window_seconds
        self.retry_at = retry_at
