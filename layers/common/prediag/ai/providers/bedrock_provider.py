"""Amazon Bedrock through boto3: the Converse API with one forced tool whose JSON schema is
ModelAssessment; the toolUse input is validated against the model.

The endpoint comes from the standard AWS configuration (AWS_ENDPOINT_URL_BEDROCK_RUNTIME
included). Each call gets its own client, whose read timeout is the time left before the
provider's deadline; botocore's standard retry mode retries throttling and server errors, and
two event handlers keep those retries inside the deadline: `before-send` refuses an attempt
once the deadline has passed, and `needs-retry` vetoes a retry whose wait (the server's
`x-amz-retry-after`, or the backoff bound) would leave less than `min_attempt_s`.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from prediag.ai.deadline import Deadline, DeadlineReached
from prediag.ai.providers.base import (
    FailureKind,
    ProviderAnswer,
    ProviderFailure,
    kind_for_status,
    retry_after_seconds,
    root_message,
    short,
    tool_assessment,
    transport_cause,
)
from prediag.ai.schema import TOOL_DESCRIPTION, TOOL_NAME, tool_input_schema
from prediag.ai.settings import AiSettings

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_bedrock_runtime.type_defs import ConverseResponseTypeDef

DEFAULT_REGION = "us-east-1"
_EVENT = "bedrock-runtime.Converse"
# botocore standard mode: throttling backoff base 1 s, other errors 50 ms, doubling, cap 20 s;
# a server `x-amz-retry-after` is honoured up to 5 s above the backoff.
_THROTTLING_BASE_S = 1.0
_OTHER_BASE_S = 0.05
_MAX_BACKOFF_S = 20.0
_RETRY_AFTER_EXTRA_S = 5.0

_ERROR_KINDS: dict[str, FailureKind] = {
    "ThrottlingException": "rate_limited",
    "TooManyRequestsException": "rate_limited",
    "ServiceQuotaExceededException": "rate_limited",
    "ServiceUnavailableException": "server_error",
    "InternalServerException": "server_error",
    "ModelNotReadyException": "server_error",
    "ModelErrorException": "server_error",
    "ModelTimeoutException": "timeout",
    "AccessDeniedException": "auth_error",
    "UnrecognizedClientException": "auth_error",
    "ExpiredTokenException": "auth_error",
    "InvalidSignatureException": "auth_error",
    "ValidationException": "bad_request",
    "ResourceNotFoundException": "bad_request",
}

_session: boto3.Session | None = None
_session_lock = threading.Lock()


def _shared_session() -> boto3.Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.Session()
        return _session


def aws_credentials_available() -> bool:
    """Whether the default AWS credential chain resolves."""
    return _shared_session().get_credentials() is not None


def _expected_wait(response: Any, attempts: int) -> float:
    status, code, headers = 0, "", {}
    if isinstance(response, tuple) and len(response) == 2:
        http_response, parsed = response
        status = int(getattr(http_response, "status_code", 0) or 0)
        headers = dict(getattr(http_response, "headers", {}) or {})
        code = str((parsed or {}).get("Error", {}).get("Code", ""))
    throttled = status == 429 or "Throttl" in code or "TooManyRequests" in code
    base = _THROTTLING_BASE_S if throttled else _OTHER_BASE_S
    # botocore draws its backoff at random below `backoff`, then raises it to the server's wait
    # capped at the draw plus 5 s; this is the longest it may sleep.
    backoff = min(base * 2.0 ** max(attempts - 1, 0), _MAX_BACKOFF_S)
    server = retry_after_seconds(headers)
    if server is None:
        return backoff
    return max(backoff, min(max(server, 0.0), backoff + _RETRY_AFTER_EXTRA_S))


def bedrock_failure(exc: Exception, *, retries: int | None = None) -> ProviderFailure:
    """The failure a boto3 Converse error stands for. `retries`: the retries counted by the
    caller, used when the error does not report them (ClientError's RetryAttempts does)."""
    if isinstance(exc, DeadlineReached):
        return ProviderFailure("timeout", short(exc), error_code="DeadlineReached", retries=retries)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        metadata = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code", "")) or None
        status = int(metadata.get("HTTPStatusCode", 0) or 0) or None
        attempts = metadata.get("RetryAttempts")
        kind = _ERROR_KINDS.get(code or "") or (kind_for_status(status) if status else "error")
        prefix = " ".join(str(part) for part in (status, code) if part)
        return ProviderFailure(
            kind,
            short(f"{prefix}: {error.get('Message', '')}".strip(": ")),
            status_code=status,
            error_code=code,
            retries=int(attempts) if isinstance(attempts, int) else retries,
        )
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        cause = transport_cause(exc)
        return ProviderFailure(
            "timeout", f"request timed out ({cause})", error_code=cause, retries=retries
        )
    if isinstance(exc, NoCredentialsError):
        return ProviderFailure(
            "auth_error", "no AWS credentials", error_code="NoCredentialsError", retries=retries
        )
    if isinstance(exc, ResponseParserError):
        return ProviderFailure(
            "invalid_output",
            f"unreadable answer: {short(exc, 200)}",
            error_code="ResponseParserError",
            retries=retries,
        )
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        return ProviderFailure(
            "connection_error",
            f"connection error: {short(root_message(exc))}",
            error_code=transport_cause(exc),
            retries=retries,
        )
    return ProviderFailure("error", short(exc), error_code=type(exc).__name__, retries=retries)


class BedrockProvider:
    name = "bedrock"

    def __init__(self, settings: AiSettings) -> None:
        self.model = settings.bedrock_model
        self._settings = settings

    def _client(self, deadline: Deadline, sent: list[float]) -> BedrockRuntimeClient:
        """A client whose retries stay inside `deadline`; each attempt's start is appended to
        `sent` (so a failure without a response still tells how often it was retried)."""
        remaining = max(deadline.remaining(), 0.1)
        config = Config(
            connect_timeout=min(5.0, remaining),
            read_timeout=remaining,
            retries={"mode": "standard", "total_max_attempts": self._settings.max_retries + 1},
        )
        session = _shared_session()
        with _session_lock:  # creating clients from one session is not thread-safe
            client: BedrockRuntimeClient = session.client(
                "bedrock-runtime",
                region_name=self._settings.bedrock_region or session.region_name or DEFAULT_REGION,
                config=config,
            )

        def refuse_late_attempt(**_: Any) -> None:
            if deadline.expired():
                raise DeadlineReached("deadline reached before the Bedrock attempt")
            sent.append(time.monotonic())

        def veto_late_retry(
            response: Any = None, attempts: int = 1, caught_exception: Any = None, **_: Any
        ) -> bool | None:
            if isinstance(caught_exception, DeadlineReached) or deadline.expired():
                return False
            if not deadline.allows_wait(_expected_wait(response, attempts)):
                return False
            return None  # let the standard retry handler decide

        client.meta.events.register_first(f"before-send.{_EVENT}", refuse_late_attempt)
        client.meta.events.register_first(
            f"needs-retry.{_EVENT}",
            veto_late_retry,  # type: ignore[arg-type]  # needs-retry handlers return a value
        )
        return client

    def _call(self, system: str, user: str, deadline: Deadline) -> ConverseResponseTypeDef:
        if deadline.expired():
            raise ProviderFailure(
                "timeout", "deadline reached before the call", error_code="DeadlineReached"
            )
        sent: list[float] = []
        client = self._client(deadline, sent)
        try:
            return client.converse(
                modelId=self.model,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": user}]}],
                inferenceConfig={
                    "maxTokens": self._settings.max_output_tokens,
                    "temperature": self._settings.temperature,
                },
                toolConfig={
                    "tools": [
                        {
                            "toolSpec": {
                                "name": TOOL_NAME,
                                "description": TOOL_DESCRIPTION,
                                "inputSchema": {"json": tool_input_schema()},
                            }
                        }
                    ],
                    "toolChoice": {"tool": {"name": TOOL_NAME}},
                },
            )
        except (DeadlineReached, ClientError, BotoCoreError, ResponseParserError) as exc:
            raise bedrock_failure(exc, retries=max(len(sent) - 1, 0)) from exc

    def assess(self, system: str, user: str, deadline: Deadline) -> ProviderAnswer:
        response = self._call(system, user, deadline)
        usage = response.get("usage", {})
        input_tokens = int(usage.get("inputTokens", 0))
        output_tokens = int(usage.get("outputTokens", 0))
        tokens: dict[str, Any] = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "model": self.model,
        }
        stop = response.get("stopReason")
        if stop in ("content_filtered", "guardrail_intervened"):
            raise ProviderFailure("refused", f"stopped: {stop}", **tokens)
        if stop == "max_tokens":
            raise ProviderFailure("invalid_output", "answer cut at the token limit", **tokens)
        content = response.get("output", {}).get("message", {}).get("content", [])
        tool_input = next(
            (
                block["toolUse"].get("input")
                for block in content
                if "toolUse" in block and block["toolUse"].get("name") == TOOL_NAME
            ),
            None,
        )
        assessment = tool_assessment(tool_input, **tokens)
        return ProviderAnswer(assessment, self.model, input_tokens, output_tokens)
