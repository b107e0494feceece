"""Errors the ensemble raises when no provider produced a usable answer."""

from __future__ import annotations

from prediag.errors import AnalysisError
from prediag.models import ProviderOutcome


class _EnsembleFailure(AnalysisError):
    """No provider answered. The message names each failure's cause ("no AI provider answered
    (openai: connection_error ConnectionRefused; anthropic: rate_limited 429 rate_limit_error;
    bedrock: timeout ReadTimeout)"); `outcomes` holds one ProviderOutcome per enabled provider,
    in AI_PROVIDERS order (skipped ones included), each with its kind, status_code, error_code,
    retries and a short scrubbed message."""

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
