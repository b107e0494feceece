"""DynamoDB item codec: JSON-ready mappings <-> typed items, records, and opaque page cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from prediag.models import PreDiagnosis

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_SMALLEST = Decimal("1E-100")


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready mapping -> DynamoDB typed item (floats as Decimal)."""
    plain = json.loads(json.dumps(data), parse_float=_dynamo_number)
    return {k: _serializer.serialize(v) for k, v in plain.items()}


def _dynamo_number(text: str) -> Decimal:
    """DynamoDB numbers stop at 1E-130: anything smaller in magnitude is stored as 0."""
    value = Decimal(text)
    return value if abs(value) >= _SMALLEST else Decimal(0)


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB typed item -> JSON-ready mapping (Decimal back to int/float)."""
    plain = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return json.loads(json.dumps(plain, default=_decimal))  # type: ignore[no-any-return]


def _decimal(value: object) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def record_from_item(item: Mapping[str, Any]) -> PreDiagnosis:
    return PreDiagnosis.model_validate(from_item(item))


def encode_cursor(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(from_item(key)).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise ValueError("cursor is not valid") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError("cursor is not valid")
    return to_item(data)
