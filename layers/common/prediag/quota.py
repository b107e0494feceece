"""Per-owner submission quota: at most `limit` accepted submissions in any rolling window.

The algorithm is a sliding log. Each owner has one item in the quota table holding the times
of their accepted submissions that are still inside the window (at most `limit` of them,
oldest first) and a version number. Taking a submission:

1. read the owner's item (strongly consistent);
2. keep the times younger than `now - window`; if `limit` remain, refuse: the next submission
   is possible when the oldest of them leaves the window (`QuotaExceededError.retry_at`);
3. otherwise write the kept times plus `now` with one conditional PutItem, on the version read
   (or on the item not existing). That write is the check and the record at once: it succeeds
   only if nobody changed the item since it was read, so the decision was made on exactly the
   state it replaces. A lost race returns the item as the winner left it
   (ReturnValuesOnConditionCheckFailure), and the decision is made again on it: of N
   concurrent submissions at the boundary exactly the free slots are taken.

This is exact (never more than `limit` in any window-long interval, unlike a fixed-window
counter, which lets up to twice the limit through around a window boundary), costs one read and
one write per accepted submission, and the item stays small (at most `limit` numbers). The item
expires (TTL `expiresAt`) one window after its newest time, when it no longer limits anything.

`give_back` removes a time again: a submission that was refused after its quota was taken (the
queue refused its job: the caller was answered 503 and nothing was accepted) does not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from prediag.errors import QuotaExceededError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = Logger(child=True)

MAX_ROUNDS = 64
"""Lost races before giving up (each one means another submission of the owner won)."""


@dataclass(frozen=True)
class QuotaPolicy:
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Grant:
    """One submission counted against `owner`'s quota, at `at_ms` (epoch milliseconds)."""

    owner: str
    at_ms: int


class SubmissionQuota(Protocol):
    """Port: counts an owner's submissions (DynamoSubmissionQuota)."""

    policy: QuotaPolicy

    def take(self, owner: str, now: datetime) -> Grant: ...
    def give_back(self, grant: Grant) -> None: ...


@dataclass(frozen=True)
class _State:
    times: list[int]
    version: int | None  # None: no item


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def retry_after_seconds(retry_at: datetime, now: datetime) -> int:
    """Whole seconds until `retry_at`, at least 1 (what `Retry-After` says)."""
    return max(1, math.ceil((retry_at - now).total_seconds()))


class DynamoSubmissionQuota:
    """The quota table (key `owner`, TTL `expiresAt`): one item per owner."""

    def __init__(
        self, table_name: str, policy: QuotaPolicy, client: DynamoDBClient | None = None
    ) -> None:
        self.table_name = table_name
        self.policy = policy
        self.client: DynamoDBClient = client or boto3.client("dynamodb")

    @staticmethod
    def key(owner: str) -> str:
        return f"submissions#{owner}"

    # ------------------------------------------------------------------ use
    def take(self, owner: str, now: datetime) -> Grant:
        """Count one submission of `owner` at `now`; QuotaExceededError when the window is
        full, with the moment a submission is possible again."""
        at = _ms(now)
        window = self.policy.window_seconds * 1000
        state = self._read(owner)
        for _ in range(MAX_ROUNDS):
            recent = sorted(t for t in state.times if t > at - window)
            if len(recent) >= self.policy.limit:
                # the count drops below the limit when this one leaves the window (to the
                # second above: a retry at `retry_at` is never early)
                frees = recent[len(recent) - self.policy.limit] + window
                raise QuotaExceededError(
                    self.policy.limit,
                    self.policy.window_seconds,
                    datetime.fromtimestamp(math.ceil(frees / 1000), UTC),
                )
            won, state = self._write(owner, state, sorted([*recent, at]))
            if won:
                return Grant(owner, at)
        # a storm of simultaneous submissions by one owner: they are no better than a full window
        logger.warning("Quota of an owner contended", extra={"rounds": MAX_ROUNDS})
        raise QuotaExceededError(
            self.policy.limit, self.policy.window_seconds, now + timedelta(seconds=1)
        )

    def give_back(self, grant: Grant) -> None:
        """Forget `grant` (best effort: a failure is logged and the slot frees with time)."""
        try:
            state = self._read(grant.owner)
            for _ in range(MAX_ROUNDS):
                if grant.at_ms not in state.times:
                    return
                times = list(state.times)
                times.remove(grant.at_ms)
                won, state = self._write(grant.owner, state, times)
                if won:
                    return
        except ClientError as exc:
            logger.warning(
                "Could not give a submission back to the quota",
                extra={"error_type": type(exc).__name__},
            )

    def used(self, owner: str, now: datetime) -> int:
        """Submissions of `owner` inside the window ending at `now`."""
        cutoff = _ms(now) - self.policy.window_seconds * 1000
        return sum(1 for t in self._read(owner).times if t > cutoff)

    # ------------------------------------------------------------------ storage
    def _read(self, owner: str) -> _State:
        res = self.client.get_item(
            TableName=self.table_name, Key={"owner": {"S": self.key(owner)}}, ConsistentRead=True
        )
        return self._state(res.get("Item"))

    @staticmethod
    def _state(item: Any) -> _State:
        if not item:
            return _State([], None)
        times = [int(v["N"]) for v in item.get("times", {}).get("L", [])]
        return _State(times, int(item["version"]["N"]))

    def _write(self, owner: str, state: _State, times: list[int]) -> tuple[bool, _State]:
        """Replace `state` by `times`: (True, new state), or (False, the state found instead)."""
        version = (state.version or 0) + 1
        expires = (max(times) // 1000 + self.policy.window_seconds + 1) if times else 0
        item: dict[str, Any] = {
            "owner": {"S": self.key(owner)},
            "times": {"L": [{"N": str(t)} for t in times]},
            "version": {"N": str(version)},
            "expiresAt": {"N": str(expires)},
        }
        if state.version is None:
            condition: dict[str, Any] = {
                "ConditionExpression": "attribute_not_exists(#o)",
                "ExpressionAttributeNames": {"#o": "owner"},
            }
        else:
            condition = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(state.version)}},
            }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False, self._state(exc.response.get("Item"))
        return True, _State(times, version)
