"""SQS adapter: the two lanes the analysis consumes and their dead-letter queues.

A job (message) is only a pointer to its record; every SQS call of the pipeline, the admin
routes and the CLI goes through `SqsJobQueue`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import boto3
from pydantic import ValidationError

from prediag.errors import ConfigurationError
from prediag.models import Lane, QueueMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef


@dataclass(frozen=True)
class LaneQueues:
    lane: Lane
    queue_url: str
    dlq_url: str | None = None


@dataclass(frozen=True)
class Letter:
    """A message taken (hidden) from a queue: a job, or a body that is not one."""

    message_id: str
    receipt_handle: str
    body: str
    sent_at: datetime | None
    job: QueueMessage | None


class JobQueue(Protocol):
    """Port: hands jobs to the analysis, schedules retries, and dead-letters failed jobs."""

    def send(self, lane: Lane, job: QueueMessage) -> str: ...
    def retry_after(self, source_arn: str, receipt_handle: str, seconds: int) -> None: ...
    def dead_letter(self, source_arn: str, job: QueueMessage) -> str: ...


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class SqsJobQueue:
    def __init__(self, lanes: Sequence[LaneQueues], client: SQSClient | None = None) -> None:
        self.lanes = tuple(lanes)
        self.client: SQSClient = client or boto3.client("sqs")

    def lane(self, lane: Lane) -> LaneQueues:
        return next(q for q in self.lanes if q.lane is lane)

    def lane_of_arn(self, queue_arn: str) -> LaneQueues:
        """The lane whose queue name ends the ARN an SQS event names as its source."""
        name = queue_arn.rsplit(":", 1)[-1]
        for queues in self.lanes:
            if queue_name(queues.queue_url) == name:
                return queues
        raise ValueError(f"{queue_arn} is not one of the configured lanes")

    # ------------------------------------------------------------------ jobs
    def send(self, lane: Lane, job: QueueMessage) -> str:
        return self._send(self.lane(lane).queue_url, lane, job)

    def dead_letter(self, source_arn: str, job: QueueMessage) -> str:
        """Send the job of a failed record to the dead-letter queue of the lane it came from."""
        queues = self.lane_of_arn(source_arn)
        if not queues.dlq_url:
            raise ConfigurationError(f"no dead-letter queue is configured for {queues.lane}")
        return self._send(queues.dlq_url, queues.lane, job)

    def _send(self, url: str, lane: Lane, job: QueueMessage) -> str:
        res = self.client.send_message(
            QueueUrl=url,
            MessageBody=job.model_dump_json(by_alias=True),
            MessageAttributes={"lane": {"DataType": "String", "StringValue": lane.value}},
        )
        return res["MessageId"]

    def retry_after(self, source_arn: str, receipt_handle: str, seconds: int) -> None:
        """Make a delivered job visible again after `seconds` (the retry backoff)."""
        self.client.change_message_visibility(
            QueueUrl=self.lane_of_arn(source_arn).queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )

    # ------------------------------------------------------------------ inspection
    def counts(self, url: str) -> dict[str, int]:
        """SQS's approximate counts of a queue (COUNTS), read once."""
        attrs = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=list(COUNTS))  # type: ignore[arg-type]
        return {k: int(v) for k, v in attrs.get("Attributes", {}).items() if v.isdigit()}

    def take(self, url: str, *, limit: int, hold_seconds: int) -> list[Letter]:
        """Take (hide for `hold_seconds`) up to `limit` messages of a queue.

        Short polls while they return messages; after an empty one, stops if the queue reports
        no visible message, else tries once more with a long poll (a short poll samples only
        some of SQS's servers and may come back empty while messages remain).
        """
        taken: list[Letter] = []
        wait = 0
        while len(taken) < limit:
            res = self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(taken)),
                WaitTimeSeconds=wait,
                VisibilityTimeout=hold_seconds,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            batch = res.get("Messages", [])
            if batch:
                taken += [_letter(m) for m in batch]
                wait = 0
                continue
            if wait or not self.counts(url).get("ApproximateNumberOfMessages", 0):
                break
            wait = 1
        return taken

    def delete(self, url: str, letters: Iterable[Letter]) -> None:
        items = list(letters)
        for start in range(0, len(items), 10):
            self.client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                    for i, m in enumerate(items[start : start + 10])
                ],
            )

    def release(self, url: str, letters: Iterable[Letter]) -> None:
        """Make taken messages visible again at once."""
        items = list(letters)
        for start in range(0, len(items), 10):
            self.client.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for i, m in enumerate(items[start : start + 10])
                ],
            )


def _letter(message: MessageTypeDef) -> Letter:
    body = message.get("Body", "")
    try:
        job: QueueMessage | None = QueueMessage.model_validate_json(body)
    except ValidationError:
        job = None
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None
    return Letter(message["MessageId"], message["ReceiptHandle"], body, sent_at, job)
