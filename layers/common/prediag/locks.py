"""A short lease on a name, held in the idempotency table (key `id`, TTL `expiration`).

Operations that take every message of a dead-letter queue (hide them while they decide) hold
the lane's lease, so that one never hides letters from another.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from prediag.errors import PrediagError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class LockBusy(PrediagError):
    """Another operation holds the lease; retry shortly."""


class DynamoLock:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table_name = table_name
        self.client: DynamoDBClient = client or boto3.client("dynamodb")
        self.clock = clock
        self.sleep = sleep

    @contextmanager
    def hold(self, name: str, *, lease_seconds: int, wait_seconds: float) -> Iterator[None]:
        """Hold `name` for at most `lease_seconds` (then it lapses: a crashed holder cannot block
        anyone longer); wait up to `wait_seconds` for it, else LockBusy."""
        key = {"id": {"S": f"prediag-lock#{name}"}}
        owner = uuid.uuid4().hex
        deadline = self.clock() + wait_seconds
        while True:
            now = int(self.clock())
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        **key,
                        "owner": {"S": owner},
                        "expiration": {"N": str(now + lease_seconds)},
                    },
                    ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
            if self.clock() >= deadline:
                raise LockBusy(f"{name} is busy with another operation; retry shortly")
            self.sleep(0.1)
        try:
            yield
        finally:
            try:
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=key,
                    ConditionExpression="#o = :me",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":me": {"S": owner}},
                )
            except ClientError as exc:  # lapsed and taken over: nothing of ours to release
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
