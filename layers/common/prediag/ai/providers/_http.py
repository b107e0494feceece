"""An httpx2 transport that keeps the OpenAI and Anthropic SDKs' retries inside the deadline.

Both SDKs retry 408/409/429/5xx and timeouts themselves, honouring `Retry-After`. Given to the
SDK client as `http_client`, this transport makes those retries deadline-aware without
touching the SDK:
- each attempt's connect/read/write/pool timeout is clipped to the time left;
- an attempt that would start after the deadline, that times out at it, or that fails on the
  wire (refused, reset, timed out) when no retry would fit before it, fails at once with the
  provider's non-retried "deadline reached" error, chained to the wire error so the failure
  keeps its cause (see `deadline_failure`);
- a retryable response whose wait (the server's `Retry-After`, or the SDK's exponential
  backoff) would leave less than `min_attempt_s` before the deadline is marked
  `x-should-retry: false`, the header both SDKs obey, so the error is returned at once instead
  of sleeping past the deadline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2

from prediag.ai.deadline import current_deadline
from prediag.ai.providers.base import (
    ProviderFailure,
    kind_for_status,
    retry_after_seconds,
    root_message,
    short,
    status_detail,
    status_error_code,
    transport_cause,
)

# The SDKs' backoff when the server gives no Retry-After: 0.5 s doubling, capped at 8 s.
SDK_INITIAL_RETRY_DELAY_S = 0.5
SDK_MAX_RETRY_DELAY_S = 8.0
_RETRYABLE_STATUS = frozenset({408, 409, 429})

_clients: dict[tuple[str, str, str, int], Any] = {}
_clients_lock = threading.Lock()


def cached_client[Client](
    factory: Callable[..., Client],
    http_client: Callable[..., Any],
    *,
    base_url_env: str,
    api_key: str,
    max_retries: int,
    timeout_s: float,
    on_deadline: Callable[[httpx2.Request], Exception],
) -> Client:
    """One SDK client per (SDK, key, endpoint, retries), kept for connection reuse, on the
    deadline transport. The endpoint variable (read by the SDK itself) is part of the key so a
    changed endpoint gets its own client."""
    key = (factory.__qualname__, api_key, os.environ.get(base_url_env, ""), max_retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = factory(
                api_key=api_key,
                max_retries=max_retries,
                timeout=timeout_s,
                http_client=http_client(transport=DeadlineTransport(on_deadline=on_deadline)),
            )
            _clients[key] = client
        return client


@dataclass(frozen=True)
class SdkBinding[Client]:
    """One SDK's client class, its httpx client class, the variable that moves its endpoint,
    and its own error class the transport raises at the deadline (one the SDK never retries)."""

    sdk: Any
    factory: Callable[..., Client]
    http_client: Callable[..., Any]
    base_url_env: str
    deadline_reached: type[Exception]

    def client(self, api_key: str, max_retries: int, timeout_s: float) -> Client:
        return cached_client(
            self.factory,
            self.http_client,
            base_url_env=self.base_url_env,
            api_key=api_key,
            max_retries=max_retries,
            timeout_s=timeout_s,
            on_deadline=lambda request: deadline_error(self.deadline_reached, request),
        )

    @contextmanager
    def failures(self) -> Iterator[None]:
        """An SDK call's deadline, connection and status errors, as ProviderFailures."""
        try:
            yield
        except self.deadline_reached as exc:
            raise deadline_failure(exc) from exc
        except (self.sdk.APIConnectionError, self.sdk.APIStatusError) as exc:
            raise sdk_failure(exc, self.sdk) from exc


def _expected_wait(response: httpx2.Response | None, request: httpx2.Request) -> float:
    """The longest the SDK sleeps before retrying `request`: the server's Retry-After, else
    its exponential backoff (which it shortens by a random 0-25 %)."""
    server = retry_after_seconds(response.headers) if response is not None else None
    if server is not None:
        return server
    retries_taken = retries_of(request) or 0
    return min(SDK_INITIAL_RETRY_DELAY_S * 2.0**retries_taken, SDK_MAX_RETRY_DELAY_S)


class DeadlineTransport(httpx2.BaseTransport):
    def __init__(
        self,
        on_deadline: Callable[[httpx2.Request], Exception],
        inner: httpx2.BaseTransport | None = None,
    ) -> None:
        self._inner = inner or httpx2.HTTPTransport()
        self._on_deadline = on_deadline

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = current_deadline()
        if deadline is None:
            return self._inner.handle_request(request)
        if deadline.expired():
            raise self._on_deadline(request)
        remaining = deadline.remaining()
        timeouts = request.extensions.get("timeout") or {}
        request.extensions = {
            **request.extensions,
            "timeout": {
                part: remaining if value is None else min(float(value), remaining)
                for part, value in {
                    "connect": timeouts.get("connect"),
                    "read": timeouts.get("read"),
                    "write": timeouts.get("write"),
                    "pool": timeouts.get("pool"),
                }.items()
            },
        }
        try:
            response = self._inner.handle_request(request)
        except httpx2.TransportError as exc:
            # The SDK would sleep and retry; if that retry cannot fit, give up now, keeping
            # the cause, rather than fail later with a bare "deadline reached".
            if deadline.expired() or not deadline.allows_wait(_expected_wait(None, request)):
                raise self._on_deadline(request) from exc
            raise
        status = response.status_code
        if (status in _RETRYABLE_STATUS or status >= 500) and not deadline.allows_wait(
            _expected_wait(response, request)
        ):
            response.headers["x-should-retry"] = "false"
        return response

    def close(self) -> None:
        self._inner.close()


def retries_of(request: httpx2.Request | None) -> int | None:
    """Retries the SDK had made when it sent `request` (both SDKs number their attempts in the
    `x-stainless-retry-count` header)."""
    if request is None:
        return None
    try:
        return int(request.headers.get("x-stainless-retry-count", ""))
    except ValueError:
        return None


def deadline_error[E: Exception](cls: type[E], request: httpx2.Request) -> E:
    """The error the transport raises at the deadline: an instance of the SDK's own error class
    `cls` (never retried), carrying the retries made so far."""
    error = cls(f"deadline reached before {request.method} {request.url.path}")
    error.retries = retries_of(request)  # type: ignore[attr-defined]  # declared by each `cls`
    return error


def deadline_failure(exc: Exception) -> ProviderFailure:
    """The failure the transport's deadline error stands for. Chained to a wire error: that
    error, classified (`timeout` for a timeout at the deadline, `connection_error` for a refused
    or dropped connection that no retry could follow), error_code its transport cause.
    Unchained: an attempt not started because the deadline had passed (DeadlineReached)."""
    retries = getattr(exc, "retries", None)
    cause = exc.__cause__
    if isinstance(cause, httpx2.TimeoutException):
        code = transport_cause(cause)
        return ProviderFailure(
            "timeout", f"no answer before the deadline ({code})", error_code=code, retries=retries
        )
    if cause is not None:
        return ProviderFailure(
            "connection_error",
            f"connection error: {short(str(cause) or root_message(cause))}",
            error_code=transport_cause(cause),
            retries=retries,
        )
    return ProviderFailure("timeout", short(exc), error_code="DeadlineReached", retries=retries)


def sdk_failure(exc: Exception, sdk: Any) -> ProviderFailure:
    """The failure an OpenAI or Anthropic SDK error stands for (both SDKs share these error
    classes: `APITimeoutError` is an `APIConnectionError`, `APIStatusError` carries the status,
    the response body and the request, whose headers number the SDK's retries).
    """
    retries = retries_of(getattr(exc, "request", None))
    if isinstance(exc, sdk.APITimeoutError):
        cause = transport_cause(exc)
        return ProviderFailure(
            "timeout", f"request timed out ({cause})", error_code=cause, retries=retries
        )
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderFailure(
            "connection_error",
            f"connection error: {short(root_message(exc))}",
            error_code=transport_cause(exc),
            retries=retries,
        )
    if isinstance(exc, sdk.APIStatusError):
        return ProviderFailure(
            kind_for_status(exc.status_code),
            status_detail(exc.status_code, exc.body, exc.message),
            status_code=exc.status_code,
            error_code=status_error_code(exc),
            retries=retries,
        )
    return ProviderFailure("error", short(exc), error_code=type(exc).__name__, retries=retries)
