"""DynamoDB adapter for pre-diagnosis records.

Every state change is one conditional UpdateItem, so a duplicate or late delivery can never move
a record backwards: the condition names the states a transition may start from.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from prediag.errors import ConflictError, NotFoundError
from prediag.models import Analysis, Attempt, PreDiagnosis, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(data: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready mapping -> DynamoDB typed item (floats as Decimal)."""
    plain = json.loads(json.dumps(data), parse_float=_dynamo_number)
    return {k: _serializer.serialize(v) for k, v in plain.items()}


def _dynamo_number(text: str) -> Decimal:
    """DynamoDB numbers stop at 1E-130: anything smaller in magnitude is stored as 0."""
    value = Decimal(text)
    return value if abs(value) >= _SMALLEST else Decimal(0)


_SMALLEST = Decimal("1E-100")


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


class RecordPage:
    def __init__(self, items: list[PreDiagnosis], cursor: str | None) -> None:
        self.items = items
        self.cursor = cursor


class Repository(Protocol):
    """Port: where pre-diagnosis records live."""

    def create(self, record: PreDiagnosis) -> None: ...
    def get(self, record_id: str) -> PreDiagnosis | None: ...
    def query(
        self, index: str, key: str, value: str, *, limit: int = 20, cursor: str | None = None
    ) -> RecordPage: ...
    def start_attempt(self, record_id: str, attempt: Attempt) -> PreDiagnosis: ...
    def complete(self, record: PreDiagnosis, analysis: Analysis, now: datetime) -> PreDiagnosis: ...
    def retry_later(self, record: PreDiagnosis, error: str, now: datetime) -> PreDiagnosis: ...
    def fail(self, record: PreDiagnosis, reason: str, now: datetime) -> PreDiagnosis: ...
    def reject_unqueued(self, record_id: str, reason: str, now: datetime) -> None: ...
    def reopen(self, record_id: str, now: datetime) -> PreDiagnosis: ...


class DynamoRepository:
    """Records in the pre-diagnoses table (key `id`; GSIs byUser, byClinic, byStatus)."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb")

    # ------------------------------------------------------------------ reads
    def get(self, record_id: str) -> PreDiagnosis | None:
        res = self.client.get_item(
            TableName=self.table_name, Key={"id": {"S": record_id}}, ConsistentRead=True
        )
        item = res.get("Item")
        return record_from_item(item) if item else None

    def require(self, record_id: str) -> PreDiagnosis:
        record = self.get(record_id)
        if record is None:
            raise NotFoundError(f"pre-diagnosis {record_id} not found")
        return record

    def query(
        self,
        index: str,
        key: str,
        value: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
    ) -> RecordPage:
        """Newest first; `cursor` is the opaque LastEvaluatedKey of the previous page.

        ValueError when the cursor is not one this query could have produced (tampered with, or
        from another index or partition).
        """
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": {"S": value}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            start = decode_cursor(cursor)
            # every index is keyed (partition, createdAt) over the table key id
            if start.get(key) != {"S": value} or set(start) != {"id", key, "createdAt"}:
                raise ValueError("cursor is not valid")
            kwargs["ExclusiveStartKey"] = start
        try:
            res = self.client.query(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if cursor and code == "ValidationException":
                raise ValueError("cursor is not valid") from exc
            raise
        items = [record_from_item(i) for i in res.get("Items", [])]
        last = res.get("LastEvaluatedKey")
        return RecordPage(items, encode_cursor(last) if last else None)

    def ids_by_status(self, status: Status, *, limit: int = 100) -> list[str]:
        res = self.client.query(
            TableName=self.table_name,
            IndexName="byStatus",
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status.value}},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [i["id"]["S"] for i in res.get("Items", [])]

    # ------------------------------------------------------------------ writes
    def create(self, record: PreDiagnosis) -> None:
        item = to_item(record.dump())
        self.client.put_item(
            TableName=self.table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(id)",
        )

    def start_attempt(self, record_id: str, attempt: Attempt) -> PreDiagnosis:
        """pending|processing -> processing, appending the attempt. Conflict if terminal."""
        return self._update(
            record_id,
            "SET #status = :processing, attempts = list_append(if_not_exists(attempts, :empty),"
            " :attempt), updatedAt = :now, version = version + :one REMOVE nextAttemptAt",
            allowed=(Status.PENDING, Status.PROCESSING),
            values={
                ":processing": Status.PROCESSING.value,
                ":attempt": [attempt.dump()],
                ":empty": [],
                ":now": attempt.started_at.isoformat(),
            },
        )

    def complete(self, record: PreDiagnosis, analysis: Analysis, now: datetime) -> PreDiagnosis:
        """processing -> completed with the validated analysis."""
        idx = self._current_attempt(record)
        return self._update(
            record.id,
            f"SET #status = :completed, analysis = :analysis, urgency = :urgency,"
            f" updatedAt = :now, version = version + :one,"
            f" attempts[{idx}].outcome = :ok, attempts[{idx}].endedAt = :now"
            " REMOVE failureReason",
            allowed=(Status.PROCESSING,),
            values={
                ":completed": Status.COMPLETED.value,
                ":analysis": analysis.dump(),
                ":urgency": analysis.urgency.value,
                ":now": now.isoformat(),
                ":ok": "succeeded",
            },
        )

    def retry_later(self, record: PreDiagnosis, error: str, now: datetime) -> PreDiagnosis:
        """processing -> pending after a failed attempt that will be retried."""
        idx = self._current_attempt(record)
        return self._update(
            record.id,
            f"SET #status = :pending, updatedAt = :now, version = version + :one,"
            f" attempts[{idx}].outcome = :failed, attempts[{idx}].endedAt = :now,"
            f" attempts[{idx}].#error = :error",
            allowed=(Status.PROCESSING,),
            values={
                ":pending": Status.PENDING.value,
                ":now": now.isoformat(),
                ":failed": "failed",
                ":error": error[:1000],
            },
            names={"#error": "error"},
        )

    def fail(self, record: PreDiagnosis, reason: str, now: datetime) -> PreDiagnosis:
        """processing -> failed after the last attempt (or an error no retry can fix)."""
        idx = self._current_attempt(record)
        return self._update(
            record.id,
            f"SET #status = :failed_status, failureReason = :reason, updatedAt = :now,"
            f" version = version + :one, attempts[{idx}].outcome = :failed,"
            f" attempts[{idx}].endedAt = :now, attempts[{idx}].#error = :reason",
            allowed=(Status.PROCESSING,),
            values={
                ":failed_status": Status.FAILED.value,
                ":failed": "failed",
                ":reason": reason[:1000],
                ":now": now.isoformat(),
            },
            names={"#error": "error"},
        )

    def reject_unqueued(self, record_id: str, reason: str, now: datetime) -> None:
        """pending -> failed when the job never reached the queue (the caller got a 503)."""
        self._update(
            record_id,
            "SET #status = :failed, failureReason = :reason, updatedAt = :now,"
            " version = version + :one",
            allowed=(Status.PENDING,),
            values={":failed": Status.FAILED.value, ":reason": reason, ":now": now.isoformat()},
        )

    def reopen(self, record_id: str, now: datetime) -> PreDiagnosis:
        """failed -> pending for a redrive; the attempt history is kept."""
        return self._update(
            record_id,
            "SET #status = :pending, updatedAt = :now, version = version + :one,"
            " redrives = if_not_exists(redrives, :zero) + :one REMOVE failureReason",
            allowed=(Status.FAILED,),
            values={":pending": Status.PENDING.value, ":now": now.isoformat(), ":zero": 0},
        )

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _current_attempt(record: PreDiagnosis) -> int:
        if not record.attempts:
            raise ConflictError(f"pre-diagnosis {record.id} has no attempt in progress")
        return len(record.attempts) - 1

    def _update(
        self,
        record_id: str,
        expression: str,
        *,
        allowed: tuple[Status, ...],
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> PreDiagnosis:
        allowed_keys = {f":from{i}": s.value for i, s in enumerate(allowed)}
        condition = f"attribute_exists(id) AND #status IN ({', '.join(allowed_keys)})"
        try:
            res = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": record_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=to_item({**values, **allowed_keys, ":one": 1}),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            if not old:
                raise NotFoundError(f"pre-diagnosis {record_id} not found") from exc
            current = old.get("status", {}).get("S", "?")
            raise ConflictError(
                f"pre-diagnosis {record_id} is {current}; expected one of "
                f"{', '.join(s.value for s in allowed)}"
            ) from exc
        return record_from_item(res["Attributes"])


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
