"""The API's edge: what is refused before any parsing.

API Gateway passes bodies of up to 10 MB with any content type. Before the resolver parses
anything, `admit(event)` raises the `Refusal` of:

- a body over `MAX_BODY_BYTES` (413),
- a body sent with another content type than application/json (415),
- a body that is not UTF-8, or is not standard JSON: malformed, NaN/Infinity, numbers out of
  range, duplicate keys, or nested deeper than `MAX_JSON_DEPTH` (400),
- a JSON body that is not an object (422).

A refusal names the problem and never echoes the request; nothing has been stored. This module
only decides: `api_responses` renders the answer, and the resolver adds its CORS headers.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_MEDIA_TYPE = "application/json"
MEDIA_TYPE_MESSAGE = "Send the body as application/json (UTF-8)"


class Refusal(Exception):
    """Why a request is turned away before parsing: the status, and the field at fault."""

    def __init__(
        self,
        status: HTTPStatus,
        message: str,
        type: str,
        *,
        field: str = "body",
        location: str = "body",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.field = field
        self.location = location


class _NotStandardJson(ValueError):
    """JSON that Python's parser accepts but RFC 8259 or this API does not."""


def admit(event: dict[str, Any]) -> None:
    """Raise the Refusal of this request, or let it through with its Content-Type in the one
    form the parser recognises (media types are case-insensitive; the resolver compares them
    as written)."""
    refused = refusal(event)
    if refused is not None:
        raise refused
    if not event.get("body") or str(event.get("httpMethod", "")).upper() not in BODY_METHODS:
        return
    for field, value in (("headers", JSON_MEDIA_TYPE), ("multiValueHeaders", [JSON_MEDIA_TYPE])):
        headers = event.get(field)
        if not isinstance(headers, dict):
            continue
        for key in [k for k in headers if str(k).lower() == "content-type"]:
            del headers[key]
        headers["content-type"] = value


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header, whatever its case."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if str(key).lower() == wanted:
            return None if value is None else str(value)
    return None


def refusal(event: Mapping[str, Any]) -> Refusal | None:
    """Why this request must be refused before parsing, or None."""
    body = event.get("body")
    if not body:
        return None
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(str(body), validate=True)
        except (binascii.Error, ValueError):
            return Refusal(HTTPStatus.BAD_REQUEST, "The body is not valid base64", "body_encoding")
    else:
        raw = str(body).encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        return Refusal(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes",
            "body_too_large",
        )
    if str(event.get("httpMethod", "")).upper() not in BODY_METHODS:
        return None
    media_type, _, params = (header(event, "content-type") or "").partition(";")
    charset = _charset(params)
    if media_type.strip().lower() != JSON_MEDIA_TYPE or charset not in (None, "utf-8"):
        return Refusal(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            MEDIA_TYPE_MESSAGE,
            "unsupported_media_type",
            field="Content-Type",
            location="header",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(HTTPStatus.BAD_REQUEST, "The body is not UTF-8 text", "body_encoding")
    return _json_refusal(text)


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _json_refusal(text: str) -> Refusal | None:
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        message = f"Malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        return Refusal(HTTPStatus.BAD_REQUEST, message, "json_invalid")
    except RecursionError:
        return _too_deep()
    except ValueError as exc:  # _NotStandardJson, or an integer too long to convert
        message = str(exc) if isinstance(exc, _NotStandardJson) else "A number is out of range"
        return Refusal(HTTPStatus.BAD_REQUEST, f"Invalid JSON: {message}", "json_invalid")
    if depth(document) > MAX_JSON_DEPTH:
        return _too_deep()
    if not isinstance(document, dict):
        # Every body of this API is an object. The resolver would take the first element of a
        # top-level array as the body, so an array must be refused here.
        return Refusal(
            HTTPStatus.UNPROCESSABLE_ENTITY, "The body must be a JSON object", "body_not_object"
        )
    return None


def _too_deep() -> Refusal:
    return Refusal(
        HTTPStatus.BAD_REQUEST,
        f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels",
        "json_invalid",
    )


def _refuse_constant(name: str) -> Any:
    raise _NotStandardJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStandardJson("a number is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _NotStandardJson("an object has the same key twice")
        document[key] = value
    return document


def depth(document: Any) -> int:
    """Nesting depth of a parsed JSON document (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest
