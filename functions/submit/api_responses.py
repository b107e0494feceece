"""Every error answer of the API: rendered here, registered here, documented here.

Every error is `{"message": ..., "errors"?: [{"field", "in", "message", "type"}]}` (`ErrorBody`);
an answer that says when to come back (`Retry-After`) also says it in the body:
`retryAfterSeconds` and `retryAt`.
`register(app)` maps each exception, from the edge's refusals to the domain's errors, to its
answer; a route declares the statuses it can answer with
`responses={..., **error_responses(401, 403, ...)}`. Answers never repeat a refused value (it
may be the owner's own words), and every answer carries `SECURITY_HEADERS` (`secured`).

(Not `responses.py`: that name is a package moto depends on, and the local stack runs this code
in moto's process.)
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseHeader,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from edge import MAX_BODY_BYTES, MEDIA_TYPE_MESSAGE, Refusal
from pydantic import BaseModel, ConfigDict, Field

from prediag.errors import (
    ConflictError,
    EnqueueError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
)
from prediag.locks import LockBusy
from prediag.models import utcnow
from prediag.ops import OpsError
from prediag.quota import retry_after_seconds

logger = Logger(child=True)

SECURITY_HEADERS = {
    # medical and personal data: no shared or browser cache may keep an answer
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class FieldError(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    field: str = Field(description="The parameter or body field at fault (dotted path)")
    in_: str = Field(alias="in", description="body, query, path or header")
    message: str
    type: str = Field(description="Machine-readable error type")


class ErrorBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    message: str = Field(description="What went wrong, for a human")
    errors: list[FieldError] | None = None
    retry_after_seconds: int | None = Field(
        default=None,
        alias="retryAfterSeconds",
        description="With `Retry-After`: the same number of seconds to wait before retrying",
    )
    retry_at: datetime | None = Field(
        default=None,
        alias="retryAt",
        description="With `Retry-After`: when a retry may succeed (UTC)",
    )


ERROR_TEXT = {
    400: "The body is not UTF-8 JSON, or not standard JSON (malformed, NaN, duplicate keys)",
    401: "No valid ID token (missing, expired, or from another user pool)",
    403: "Authenticated, but this route or filter is not for this caller",
    404: "No such record, or not one the caller may see",
    409: "A request with the same Idempotency-Key is still being processed; retry shortly",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is not sent as application/json",
    422: "A parameter or body field is invalid; `errors` names each one",
    429: "Too many requests: the caller's submission quota (`Retry-After`), or API throttling",
    500: "Unexpected error; nothing was half stored",
    503: "A service the API needs is unavailable; nothing was accepted, retry later",
}


RETRY_AFTER_CODES = frozenset({409, 429, 503})
"""Statuses whose answer may say when to retry (`Retry-After`)."""
RETRY_AFTER_HEADER: OpenAPIResponseHeader = {
    "description": "Seconds to wait before retrying (also `retryAfterSeconds` in the body)",
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}


def error_responses(*codes: int, **descriptions: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses for these error statuses; `descriptions` overrides by `_<code>`."""
    responses: dict[int, OpenAPIResponse] = {}
    for code in codes:
        response: OpenAPIResponse = {
            "description": descriptions.get(f"_{code}", ERROR_TEXT[code]),
            "content": {"application/json": {"model": ErrorBody}},
        }
        if code in RETRY_AFTER_CODES:
            response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
        responses[code] = response
    return responses


# ---------------------------------------------------------------------- rendering
def error(
    status: HTTPStatus,
    message: str,
    *errors: FieldError,
    retry_after: int | None = None,
    retry_at: datetime | None = None,
) -> Response[Any]:
    """The one way an error answer is built: an `ErrorBody`, as documented. With
    `retry_after` (seconds), the `Retry-After` header and the same in the body."""
    body = ErrorBody(message=message, errors=list(errors) or None)
    headers = {}
    if retry_after is not None:
        at = retry_at or utcnow() + timedelta(seconds=retry_after)
        if at.microsecond:  # whole seconds, never earlier than the moment itself
            at = at.replace(microsecond=0) + timedelta(seconds=1)
        body.retry_after_seconds = retry_after
        body.retry_at = at
        headers["Retry-After"] = str(retry_after)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json", by_alias=True, exclude_none=True),
        headers=headers,
    )


def field_error(field: str, location: str, message: str, type: str) -> FieldError:
    return FieldError(field=field, in_=location, message=message, type=type)


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    """Where and what, never the rejected value."""
    return [
        field_error(
            ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
            str(e["loc"][0]),
            str(e.get("msg", e["type"])),
            str(e["type"]),
        )
        for e in exc.errors()
    ]


def secured(answer: dict[str, Any]) -> dict[str, Any]:
    """Add SECURITY_HEADERS to a proxy answer of the resolver (it uses multiValueHeaders)."""
    multi = answer.get("multiValueHeaders")
    single = answer.get("headers")
    for name, value in SECURITY_HEADERS.items():
        if isinstance(multi, dict):
            if not any(k.lower() == name.lower() for k in multi):
                multi[name] = [value]
        else:
            if not isinstance(single, dict):
                single = answer["headers"] = {}
            if not any(k.lower() == name.lower() for k in single):
                single[name] = value
    return answer


# ---------------------------------------------------------------------- answers to exceptions
def refused(exc: Refusal) -> Response[Any]:
    logger.info("Refused request", extra={"status": int(exc.status), "reason": exc.type})
    return error(
        exc.status, exc.message, field_error(exc.field, exc.location, exc.message, exc.type)
    )


def invalid_request(exc: RequestValidationError) -> Response[Any]:
    errors = _field_errors(exc)
    fields = ", ".join(sorted({e.field for e in errors}))
    logger.info(
        "Invalid request", extra={"invalid": [{"field": e.field, "type": e.type} for e in errors]}
    )
    return error(HTTPStatus.UNPROCESSABLE_ENTITY, f"Invalid request: {fields}", *errors)


def unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[Any]:
    return error(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        MEDIA_TYPE_MESSAGE,
        field_error("Content-Type", "header", MEDIA_TYPE_MESSAGE, "media_type"),
    )


def unserviceable(exc: InvalidRequestError) -> Response[Any]:
    return error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        str(exc),
        field_error(exc.field, exc.location, str(exc), "value_error"),
    )


def key_reused(exc: IdempotencyValidationError) -> Response[Any]:
    message = "This Idempotency-Key was already used with another request body"
    return error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        message,
        field_error("Idempotency-Key", "header", message, "key_reused"),
    )


def key_in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return error(HTTPStatus.CONFLICT, ERROR_TEXT[409], retry_after=1)


def idempotency_unavailable(exc: IdempotencyPersistenceLayerError) -> Response[Any]:
    logger.error("Idempotency store unavailable", extra={"error_type": type(exc).__name__})
    return error(HTTPStatus.SERVICE_UNAVAILABLE, ERROR_TEXT[503], retry_after=5)


def not_found(exc: NotFoundError) -> Response[Any]:
    return error(HTTPStatus.NOT_FOUND, str(exc))


def forbidden(exc: ForbiddenError) -> Response[Any]:
    return error(HTTPStatus.FORBIDDEN, f"Forbidden: {exc}")


def unavailable(exc: EnqueueError) -> Response[Any]:
    return error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), retry_after=5)


def over_quota(exc: QuotaExceededError) -> Response[Any]:
    return error(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too many submissions: {exc}",
        retry_after=retry_after_seconds(exc.retry_at, utcnow()),
        retry_at=exc.retry_at,
    )


def conflict(exc: ConflictError) -> Response[Any]:
    return error(HTTPStatus.CONFLICT, str(exc))


def cannot_operate(exc: OpsError) -> Response[Any]:
    return error(HTTPStatus.CONFLICT, str(exc))


def lane_busy(exc: LockBusy) -> Response[Any]:
    return error(HTTPStatus.CONFLICT, str(exc), retry_after=5)


def service_error(exc: ServiceError) -> Response[Any]:
    """Powertools' HTTP errors (401 from identity, 403 from the admin routes...)."""
    return error(HTTPStatus(exc.status_code), str(exc.msg))


def unexpected(exc: Exception) -> Response[Any]:
    # the message of an unexpected error may quote request data: its type and frames only
    logger.error(
        "Unexpected %s",
        type(exc).__name__,
        extra={"error_type": type(exc).__name__, "frames": traceback.format_tb(exc.__traceback__)},
    )
    return error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")


def no_route(exc: Exception) -> Response[Any]:
    return error(HTTPStatus.NOT_FOUND, "Not found")


ANSWERS: dict[type[Exception], Callable[[Any], Response[Any]]] = {
    Refusal: refused,
    RequestValidationError: invalid_request,
    RequestUnsupportedContentType: unsupported_media_type,
    InvalidRequestError: unserviceable,
    IdempotencyValidationError: key_reused,
    IdempotencyAlreadyInProgressError: key_in_progress,
    IdempotencyPersistenceLayerError: idempotency_unavailable,
    NotFoundError: not_found,
    ForbiddenError: forbidden,
    EnqueueError: unavailable,
    QuotaExceededError: over_quota,
    ConflictError: conflict,
    OpsError: cannot_operate,
    LockBusy: lane_busy,
    ServiceError: service_error,
    Exception: unexpected,
}
"""Each exception and its answer (the resolver picks the most specific class)."""


def register(app: APIGatewayRestResolver) -> None:
    """Answer every exception a request can raise, and a request for no route, on `app`."""
    for exc_class, answer in ANSWERS.items():
        app.exception_handler(exc_class)(answer)
    app.not_found(no_route)
