"""SQS adapter: the two lanes the analysis consumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import boto3

from prediag.models import Lane, QueueMessage

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


class JobQueue(Protocol):
    """Port: hands a job to the analysis and schedules its retries."""

    def send(self, lane: Lane, message: QueueMessage) -> str: ...
    def delay_retry(self, source_arn: str, receipt_handle: str, seconds: int) -> None: ...


class SqsJobQueue:
    def __init__(self, urgent_url: str, normal_url: str, client: SQSClient | None = None) -> None:
        self.urls = {Lane.URGENT: urgent_url, Lane.NORMAL: normal_url}
        self.client: SQSClient = client or boto3.client("sqs")

    def send(self, lane: Lane, message: QueueMessage) -> str:
        res = self.client.send_message(
            QueueUrl=self.urls[lane],
            MessageBody=message.model_dump_json(by_alias=True),
            MessageAttributes={"lane": {"DataType": "String", "StringValue": lane.value}},
        )
        return res["MessageId"]

    def url_for_arn(self, queue_arn: str) -> str:
        """The lane URL whose queue name ends the ARN an SQS event names as its source."""
        name = queue_arn.rsplit(":", 1)[-1]
        for url in self.urls.values():
            if url.rstrip("/").rsplit("/", 1)[-1] == name:
                return url
        raise ValueError(f"{queue_arn} is not one of the configured lanes")

    def delay_retry(self, source_arn: str, receipt_handle: str, seconds: int) -> None:
        """Make a failed message visible again after `seconds` (the retry backoff)."""
        self.client.change_message_visibility(
            QueueUrl=self.url_for_arn(source_arn),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )
