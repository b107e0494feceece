"""Errors the ensemble raises when no provider produced a usable answer."""

from __future__ import annotations

from prediag.errors import AnalysisError
from prediag.models import ProviderOutcome


class _EnsembleFailure(AnalysisError):
    def __init__(self, message: str, outcomes: list[ProviderOutcome] | None = None) -> None:
        super().__init__(message)
        self.outcomes: list[ProviderOutcome] = list(outcomes or [])


class RetryableAnalysisError(_EnsembleFailure):
    """No provider answered, and at least one failed for a reason another attempt may fix
    (timeout, rate limit, server error, output that did not validate, network)."""

    retryable = True


class PermanentAnalysisError(_EnsembleFailure):
    """Every provider failed for a reason retrying cannot fix (bad credentials, invalid request,
    refusal)."""

    retryable = False
