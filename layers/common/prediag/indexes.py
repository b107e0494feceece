"""The table's index reads (byUser, byClinic, byStatus): listings, counts and windows.

Every index is keyed (partition, createdAt) over the table key `id`; byStatus projects the keys
only, byUser and byClinic whole records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from prediag.items import decode_cursor, encode_cursor, record_from_item
from prediag.models import PreDiagnosis, Status

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class RecordPage:
    def __init__(self, items: list[PreDiagnosis], cursor: str | None) -> None:
        self.items = items
        self.cursor = cursor


class IndexReads:
    """Reads of the table's indexes, for the repository that owns `table_name` and `client`."""

    table_name: str
    client: DynamoDBClient

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
