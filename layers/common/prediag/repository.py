"""DynamoDB adapter for pre-diagnosis records: the one place a record's state changes.

Every transition is one conditional UpdateItem, and the condition is the lock: of any number of
concurrent writers exactly one wins and acts; the others get a ConflictError carrying the record
as they found it, and do nothing. A duplicate or late delivery can never move a record backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import ClientError

from prediag.errors import ConflictError, NotFoundError
from prediag.items import decode_cursor, encode_cursor, record_from_item, to_item
from prediag.models import (
    Analysis,
    Attempt,
    PreDiagnosis,
    ProviderOutcome,
    SentNotification,
    Status,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class RecordPage:
    def __init__(self, items: list[PreDiagnosis], cursor: str | None) -> None:
        self.items = items
        self.cursor = cursor


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt ended: the record's next status, and what the attempt leaves behind."""

    status: Status
    analysis: Analysis | None = None
    error: str | None = None
    providers: Sequence[ProviderOutcome] = ()


class Repository(Protocol):
    """Port: where pre-diagnosis records live and change state (DynamoRepository)."""

    def get(self, record_id: str) -> PreDiagnosis | None: ...
    def create(self, record: PreDiagnosis) -> None: ...
    def start_attempt(
        self, record_id: str, attempt: Attempt, *, dispatch: int, stale_before: datetime
    ) -> PreDiagnosis: ...
    def end_attempt(self, record: PreDiagnosis, end: AttemptEnd, now: datetime) -> PreDiagnosis: ...
    def fail_stranded(self, record: PreDiagnosis, reason: str, now: datetime) -> PreDiagnosis: ...
    def refuse(self, record_id: str, reason: str, now: datetime) -> PreDiagnosis: ...
    def reopen(self, record: PreDiagnosis, now: datetime) -> PreDiagnosis: ...
    def restore(self, previous: PreDiagnosis, now: datetime) -> PreDiagnosis: ...
    def mark_dead_lettered(self, record_id: str, dispatch: int) -> PreDiagnosis: ...
    def redispatch(self, record: PreDiagnosis, now: datetime) -> PreDiagnosis: ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


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

    def get_many(self, ids: Sequence[str]) -> list[PreDiagnosis]:
        """The records of `ids` that exist, in the order of `ids` (BatchGetItem)."""
        found: dict[str, PreDiagnosis] = {}
        for start in range(0, len(ids), 100):
            keys = [{"id": {"S": i}} for i in dict.fromkeys(ids[start : start + 100])]
            request: dict[str, Any] = {self.table_name: {"Keys": keys}}
            while request:
                res = self.client.batch_get_item(RequestItems=request)
                for item in res.get("Responses", {}).get(self.table_name, []):
                    record = record_from_item(item)
                    found[record.id] = record
                request = dict(res.get("UnprocessedKeys") or {})
        return [found[i] for i in ids if i in found]

    def query(
        self, index: str, key: str, value: str, *, limit: int = 20, cursor: str | None = None
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

    # ------------------------------------------------------------------ byStatus index
    def _by_status(self, status: Status, **extra: Any) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "IndexName": "byStatus",
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status.value}},
            **extra,
        }

    def count(self, status: Status) -> int:
        """Records in `status` (every page of a Select=COUNT query of the byStatus index)."""
        total = 0
        kwargs = self._by_status(status, Select="COUNT")
        while True:
            res = self.client.query(**kwargs)
            total += int(res.get("Count", 0))
            last = res.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    def ids(self, status: Status, *, limit: int) -> tuple[list[str], bool]:
        """Up to `limit` ids in `status`, newest first; True when there were more."""
        found: list[str] = []
        kwargs = self._by_status(status, ScanIndexForward=False, Limit=min(limit + 1, 1000))
        while len(found) <= limit:
            res = self.client.query(**kwargs)
            found += [item["id"]["S"] for item in res.get("Items", [])]
            last = res.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return found[:limit], len(found) > limit

    def window(
        self,
        index: str,
        key: str,
        value: str,
        *,
        until: str | None = None,
        since: str | None = None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` raw items of one index partition with `since <= createdAt <= until`
        (either bound optional), newest first; True when the partition may hold more.

        byStatus gives keys only (id, status, createdAt); byClinic and byUser whole records."""
        condition = "#k = :v"
        values: dict[str, Any] = {":v": {"S": value}}
        if since is not None and until is not None:
            condition += " AND createdAt BETWEEN :since AND :until"
        elif since is not None:
            condition += " AND createdAt >= :since"
        elif until is not None:
            condition += " AND createdAt <= :until"
        if since is not None:
            values[":since"] = {"S": since}
        if until is not None:
            values[":until"] = {"S": until}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            res = self.client.query(**kwargs)
            found += res.get("Items", [])
            last = res.get("LastEvaluatedKey")
            if not last:
                return found[:limit], False
            kwargs["ExclusiveStartKey"] = last
            kwargs["Limit"] = limit - len(found)
        return found[:limit], True

    # ------------------------------------------------------------------ transitions
    def note_notification(self, record_id: str, note: SentNotification) -> None:
        """Append a notification the vet was sent to the record's list. It changes neither the
        status nor the version, so no transition's condition and no stream filter sees it."""
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": record_id}},
                UpdateExpression="SET notifications = list_append("
                "if_not_exists(notifications, :empty), :note)",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues=to_item({":empty": [], ":note": [note.dump()]}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise NotFoundError(f"pre-diagnosis {record_id} not found") from exc

    def create(self, record: PreDiagnosis) -> None:
        """A new record, `pending` (its id must be new)."""
        self.client.put_item(
            TableName=self.table_name,
            Item=to_item(record.dump()),
            ConditionExpression="attribute_not_exists(id)",
        )

    def start_attempt(
        self, record_id: str, attempt: Attempt, *, dispatch: int, stale_before: datetime
    ) -> PreDiagnosis:
        """pending -> processing, appending the attempt, for the job of the record's current
        dispatch. A `processing` record is taken over only when its attempt started before
        `stale_before` (that attempt died: Lambda ended it at its timeout)."""
        return self._update(
            record_id,
            "SET #status = :processing, attempts = list_append(if_not_exists(attempts, :empty),"
            " :attempt), attemptStartedMs = :started, updatedAt = :now, version = version + :one",
            condition="redrives = :dispatch AND (#status = :pending OR"
            " (#status = :processing AND attemptStartedMs < :stale))",
            values={
                ":pending": Status.PENDING.value,
                ":processing": Status.PROCESSING.value,
                ":attempt": [attempt.dump()],
                ":empty": [],
                ":started": _ms(attempt.started_at),
                ":stale": _ms(stale_before),
                ":dispatch": dispatch,
                ":now": attempt.started_at.isoformat(),
            },
        )

    def end_attempt(self, record: PreDiagnosis, end: AttemptEnd, now: datetime) -> PreDiagnosis:
        """processing -> completed (with the validated analysis), pending (a retry will follow)
        or failed, closing the attempt `record` started with its outcome and causes."""
        idx = len(record.attempts) - 1
        status, analysis, providers = end.status, end.analysis, end.providers
        error = "failed" if status is Status.FAILED and end.error is None else end.error
        if idx < 0 or record.attempt_started_ms is None:
            raise ConflictError(f"pre-diagnosis {record.id} has no attempt in progress", record)
        sets = [
            "#status = :to",
            "updatedAt = :now",
            "version = version + :one",
            f"attempts[{idx}].outcome = :outcome",
            f"attempts[{idx}].endedAt = :now",
            f"attempts[{idx}].providers = :providers",
        ]
        values: dict[str, Any] = {
            ":to": status.value,
            ":now": now.isoformat(),
            ":outcome": "succeeded" if status is Status.COMPLETED else "failed",
            ":providers": [p.dump() for p in providers],
            ":processing": Status.PROCESSING.value,
            ":started": record.attempt_started_ms,
        }
        if analysis is not None:
            sets += ["analysis = :analysis", "urgency = :urgency"]
            values |= {":analysis": analysis.dump(), ":urgency": analysis.urgency.value}
        if error is not None:
            sets.append(f"attempts[{idx}].#error = :error")
            values[":error"] = error[:1000]
        if status is Status.FAILED:
            sets += ["failureReason = :error", "deadLettered = :false"]
            values[":false"] = False
        removal = " REMOVE failureReason" if status is Status.COMPLETED else ""
        return self._update(
            record.id,
            "SET " + ", ".join(sets) + removal,
            condition="#status = :processing AND attemptStartedMs = :started",
            values=values,
            names={"#error": "error"} if error is not None else None,
        )

    def fail_stranded(self, record: PreDiagnosis, reason: str, now: datetime) -> PreDiagnosis:
        """processing -> failed for an attempt that never ended (its function crashed or timed
        out, and no delivery is left to end it). Only while that same attempt is the latest."""
        return self.end_attempt(record, AttemptEnd(Status.FAILED, error=reason), now)

    def refuse(self, record_id: str, reason: str, now: datetime) -> PreDiagnosis:
        """pending -> refused: its job never reached the queue and the caller was told so."""
        return self._update(
            record_id,
            "SET #status = :refused, failureReason = :reason, updatedAt = :now,"
            " version = version + :one",
            condition="#status = :pending AND redrives = :zero AND size(attempts) = :zero",
            values={
                ":refused": Status.REFUSED.value,
                ":pending": Status.PENDING.value,
                ":reason": reason,
                ":now": now.isoformat(),
                ":zero": 0,
            },
        )

    def reopen(self, record: PreDiagnosis, now: datetime) -> PreDiagnosis:
        """failed -> pending for a redrive, `redrives` + 1; the attempt history is kept.

        Conditional on the record being failed at the redrive count `record` was read with: of
        concurrent redrives of one record, exactly one reopens it."""
        return self._update(
            record.id,
            "SET #status = :pending, updatedAt = :now, version = version + :one,"
            " redrives = redrives + :one, deadLettered = :false REMOVE failureReason",
            condition="#status = :failed AND redrives = :redrives AND deadLettered = :true",
            values={
                ":pending": Status.PENDING.value,
                ":failed": Status.FAILED.value,
                ":redrives": record.redrives,
                ":true": True,
                ":false": False,
                ":now": now.isoformat(),
            },
        )

    def restore(self, previous: PreDiagnosis, now: datetime) -> PreDiagnosis:
        """Back to `previous` after `reopen(previous)` or `redispatch(previous)`, when the new
        job could not be sent: same status, redrive count, reason and dead letter. A job that
        was sent after all is then ahead of the record, and dropped by the analysis."""
        sets = "#status = :was, redrives = :redrives, deadLettered = :letter"
        if previous.failure_reason:
            sets += ", failureReason = :reason"
        return self._update(
            previous.id,
            f"SET {sets}, updatedAt = :now, version = version + :one",
            condition="#status = :pending AND redrives = :reopened AND size(attempts) = :n",
            values={
                ":pending": Status.PENDING.value,
                ":was": previous.status.value,
                ":redrives": previous.redrives,
                ":reopened": previous.redrives + 1,
                ":letter": previous.dead_lettered,
                ":n": len(previous.attempts),
                ":now": now.isoformat(),
            }
            | ({":reason": previous.failure_reason} if previous.failure_reason else {}),
        )

    def redispatch(self, record: PreDiagnosis, now: datetime) -> PreDiagnosis:
        """pending -> pending with a new dispatch (`redrives` + 1), as `record` was read: for a
        pending record whose job ended in the dead-letter queue (its deliveries ran out in a
        crash). Any older job of the record is obsolete from then on."""
        return self._update(
            record.id,
            "SET updatedAt = :now, version = version + :one, redrives = redrives + :one",
            condition="#status = :pending AND redrives = :redrives AND size(attempts) = :n",
            values={
                ":pending": Status.PENDING.value,
                ":redrives": record.redrives,
                ":n": len(record.attempts),
                ":now": now.isoformat(),
            },
        )

    def mark_dead_lettered(self, record_id: str, dispatch: int) -> PreDiagnosis:
        """Note that the failed record's job (of `dispatch`) is in the dead-letter queue: from
        now on an operator may redrive it."""
        return self._update(
            record_id,
            "SET deadLettered = :true",
            condition="#status = :failed AND redrives = :dispatch",
            values={":failed": Status.FAILED.value, ":dispatch": dispatch, ":true": True},
        )

    def _update(
        self,
        record_id: str,
        expression: str,
        *,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> PreDiagnosis:
        one = ":one" in expression
        try:
            res = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": record_id}},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(id) AND ({condition})",
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=to_item(values | ({":one": 1} if one else {})),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            if not old:
                raise NotFoundError(f"pre-diagnosis {record_id} not found") from exc
            current = record_from_item(old)
            raise ConflictError(
                f"pre-diagnosis {record_id} is {current.status.value}", current
            ) from exc
        return record_from_item(res["Attributes"])
