"""The one small interface every AI provider implements, and the failure vocabulary."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pydantic

from prediag.ai.deadline import Deadline
from prediag.ai.schema import TOOL_NAME, ModelAssessment
from prediag.models import ProviderFailureKind

FailureKind = ProviderFailureKind

RETRYABLE: frozenset[FailureKind] = frozenset(
    {"timeout", "rate_limited", "server_error", "invalid_output", "connection_error", "error"}
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
    """A provider call that produced no usable assessment, classified.

    `status_code`: the HTTP error status the provider answered (None when the failure is not
    an HTTP error);
    `error_code`: the provider's or AWS's error code or type (`rate_limit_error`,
    `invalid_api_key`, `ThrottlingException`), or the transport cause (`ConnectionRefused`,
    `ReadTimeout`, see `transport_cause`); `retries`: the SDK's retries before it gave up, when
    known. The message is short and may still quote the provider: the ensemble scrubs it.
    """

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        retries: int | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.status_code = status_code
        self.error_code = error_code
        self.retries = retries
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


# Transport causes, by the exception class names met in an error's chain (httpx2/httpcore2 for
# the OpenAI and Anthropic SDKs, urllib3/botocore for boto3, the OS errors under them), most
# specific first.
_TRANSPORT_CAUSES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"ConnectionRefusedError"}), "ConnectionRefused"),
    (frozenset({"gaierror", "NameResolutionError"}), "NameResolutionError"),
    (frozenset({"ConnectionResetError", "BrokenPipeError"}), "ConnectionReset"),
    (frozenset({"ConnectTimeout", "ConnectTimeoutError"}), "ConnectTimeout"),
    (frozenset({"ReadTimeout", "ReadTimeoutError"}), "ReadTimeout"),
    (frozenset({"WriteTimeout", "WriteTimeoutError"}), "WriteTimeout"),
    (frozenset({"PoolTimeout"}), "PoolTimeout"),
    (
        frozenset(
            {"RemoteProtocolError", "RemoteDisconnected", "ConnectionClosedError", "ProtocolError"}
        ),
        "ConnectionClosed",
    ),
    (frozenset({"SSLError", "SSLCertVerificationError", "SSLZeroReturnError"}), "TLSError"),
    (frozenset({"ProxyError", "ProxyConnectionError"}), "ProxyError"),
    (frozenset({"TimeoutError", "timeout"}), "Timeout"),
)
_MAX_CHAIN = 12


def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions under it: causes, contexts, and botocore's wrapped `error`."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < _MAX_CHAIN:
        chain.append(current)
        following = current.__cause__ or current.__context__
        if following is None:
            wrapped = (getattr(current, "kwargs", None) or {}).get("error")
            following = wrapped if isinstance(wrapped, BaseException) else None
        current = following
    return chain


def transport_cause(exc: BaseException) -> str:
    """What went wrong on the wire under an SDK's connection or timeout error:
    ConnectionRefused, NameResolutionError, ConnectionReset, ConnectTimeout, ReadTimeout,
    WriteTimeout, PoolTimeout, ConnectionClosed, TLSError, ProxyError, Timeout; else the class
    name of the deepest exception."""
    chain = exception_chain(exc)
    names = {type(e).__name__ for e in chain}
    for known, cause in _TRANSPORT_CAUSES:
        if names & known:
            return cause
    return type(chain[-1]).__name__


def root_message(exc: BaseException) -> str:
    """The message of the exception the SDK wrapped (`[Errno 111] Connection refused`), or the
    SDK's own when it wrapped nothing."""
    chain = exception_chain(exc)
    inner = next((e for e in chain[1:] if str(e)), None)
    return str(inner if inner is not None else exc)


def status_error_code(exc: BaseException) -> str | None:
    """The error code of an OpenAI or Anthropic status error: Anthropic's stable
    `error.details.error_code`, OpenAI's `error.code` (`invalid_api_key`,
    `rate_limit_exceeded`), else the error `type` (`rate_limit_error`, `server_error`)."""
    for attribute in ("error_code", "code", "type"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value.strip():
            return short(value, 100)
    return None


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
            "invalid_output", f"answer does not validate: {validation_summary(exc)}", **tokens
        ) from exc


def validation_summary(exc: pydantic.ValidationError, limit: int = 200) -> str:
    """Where and why an answer failed validation, without the values it held (a model's answer
    may quote the owner)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(str(part) for part in error['loc']) or 'answer'}: {error['msg']}"
        for error in errors
    ]
    return short(f"{len(errors)} error(s): " + "; ".join(parts), limit)
