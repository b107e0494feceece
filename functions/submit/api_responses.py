"""The API's error answers, as documented in its OpenAPI document.

Every error is `{"message": ..., "errors"?: [{"field", "in", "message", "type"}]}`. A route
declares the statuses it can answer with `responses={..., **error_responses(401, 403, ...)}`.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

MAX_BODY_BYTES = 64 * 1024


class FieldError(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    field: str = Field(description="The parameter or body field at fault (dotted path)")
    in_: str = Field(alias="in", description="body, query, path or header")
    message: str
    type: str = Field(description="Machine-readable error type")


class ErrorBody(BaseModel):
    message: str = Field(description="What went wrong, for a human")
    errors: list[FieldError] | None = None


ERROR_TEXT = {
    400: "The body is not UTF-8 JSON, or not standard JSON (malformed, NaN, duplicate keys)",
    401: "No valid ID token (missing, expired, or from another user pool)",
    403: "Authenticated, but this route or filter is not for this caller",
    404: "No such record, or not one the caller may see",
    409: "A request with the same Idempotency-Key is still being processed; retry shortly",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is not sent as application/json",
    422: "A parameter or body field is invalid; `errors` names each one",
    429: "Too many requests (API throttling); retry later",
    500: "Unexpected error; nothing was half stored",
    503: "A service the API needs is unavailable; nothing was accepted, retry later",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses for these error statuses; `descriptions` overrides by `_<code>`."""
    return {
        code: {
            "description": descriptions.get(f"_{code}", ERROR_TEXT[code]),
            "content": {"application/json": {"model": ErrorBody}},
        }
        for code in codes
    }
