"""The one small interface every AI provider implements, and the failure vocabulary."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pydantic

from prediag.ai.deadline import Deadline
from prediag.ai.schema import TOOL_NAME, ModelAssessment

FailureKind = Literal[
    "timeout",
    "rate_limited",
    "server_error",
    "invalid_output",
    "refused",
    "auth_error",
    "bad_request",
    "error",
]

RETRYABLE: frozenset[FailureKind] = frozenset(
    {"timeout", "rate_limited", "server_error", "invalid_output", "error"}
)
"""Failures another attempt may fix. The others (bad credentials, invalid request, refusal)
repeat identically."""


@dataclass(frozen=True)
class ProviderAnswer:
    assessment: ModelAssessment
    model: str
    input_tokens: int
    output_tokens: int


class ProviderFailure(Exception):
    """A provider call that produced no usable assessment, classified."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.model = model

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class Provider(Protocol):
    """One AI provider: turns the system prompt and the case message into a validated
    assessment before `deadline`, or raises ProviderFailure."""

    name: str
    model: str

    def assess(self, system: str, user: str, deadline: Deadline) -> ProviderAnswer: ...


def kind_for_status(status: int) -> FailureKind:
    """Classify an HTTP error status."""
    if status in (401, 403):
        return "auth_error"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    if 400 <= status < 500:
        return "bad_request"
    return "error"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: `retry-after-ms`, `x-amz-retry-after` (ms), or
    `retry-after` in seconds or as an HTTP date."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for header, divisor in (("retry-after-ms", 1000.0), ("x-amz-retry-after", 1000.0)):
        value = lowered.get(header)
        if value is not None:
            try:
                return max(float(value) / divisor, 0.0)
            except ValueError:
                pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def status_detail(status: int, body: object, fallback: str) -> str:
    """'429 rate_limit_error: <message>' from an API error body ({"error": {...}} for OpenAI
    and Anthropic), else the SDK's own message."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        kind = error.get("type") or error.get("code") or ""
        return short(
            f"{status} {kind}: {error['message']}" if kind else f"{status}: {error['message']}"
        )
    return short(f"{status}: {fallback}")


def short(message: object, limit: int = 300) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_assessment(tool_input: object | None, **tokens: Any) -> ModelAssessment:
    """The assessment a forced tool call carried, validated; `invalid_output` otherwise.

    `tokens` are the usage details a failure reports (ProviderFailure's keyword arguments).
    """
    if tool_input is None:
        raise ProviderFailure("invalid_output", f"no {TOOL_NAME} tool call", **tokens)
    try:
        return ModelAssessment.model_validate(tool_input)
    except pydantic.ValidationError as exc:
        raise ProviderFailure(
            "invalid_output", f"answer does not validate: {short(exc, 200)}", **tokens
        ) from exc
