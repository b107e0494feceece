"""Helpers for the integration tests: sample events, queues, stream and a vet inbox."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import boto3

from prediag import clinics, wiring
from prediag.clinics import ClinicChange, NewClinic
from prediag.errors import ConflictError
from prediag_tools.local import Provisioned
from prediag_tools.local.esm import sqs_record, stream_record
from prediag_tools.local.filters import matches_any, parse_patterns
from prediag_tools.local.runtime import FunctionRuntime, Invocation

EVENTS = Path(__file__).parents[2] / "events"
OWNER = "7d1f3c2a-0000-4000-8000-000000000001"


class Lambda:
    """Invokes one function of the template in process, as the local stack does."""

    def __init__(self, provisioned: Provisioned, name: str) -> None:
        self.runtime = FunctionRuntime(provisioned.function(name))

    def __call__(self, event: dict[str, Any]) -> Any:
        result: Invocation = self.runtime.invoke(event)
        assert result.ok, result.error_payload()
        return result.response


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    user: str | None = OWNER,
    groups: str = "",
    clinic: str | None = None,
) -> dict[str, Any]:
    """The sample API event with another method, path, body or caller."""
    template = "api-post-pre-diagnosis.json" if method == "POST" else "api-get-pre-diagnosis.json"
    event = json.loads((EVENTS / template).read_text())
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    if path.count("/") == 2:
        event["pathParameters"] = {"id": path.rsplit("/", 1)[-1]}
    event["body"] = body if body is None or isinstance(body, str) else json.dumps(body)
    claims: dict[str, str] = {"sub": user} if user else {}
    if groups:
        claims["cognito:groups"] = groups
    if clinic:
        claims["custom:clinic_id"] = clinic
    event["requestContext"]["authorizer"] = {"claims": claims} if user else {}
    return event


def register_clinic(clinic_id: str, *, active: bool = True) -> None:
    """Register `clinic_id` (through the use case, in the stack the environment points at)."""
    try:
        clinics.register(
            wiring.clinics(),
            NewClinic(clinic_id=clinic_id, name=f"Clinic {clinic_id}", active=active),
        )
    except ConflictError:
        clinics.change(wiring.clinics(), clinic_id, ClinicChange(active=active))


def request_body(name: str = "request-normal.json", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    body.update(changes)
    return body


class Queues:
    """Reads the lanes the way the SQS trigger does, and turns messages into Lambda events."""

    def __init__(self, stack: Provisioned) -> None:
        self.stack = stack
        self.sqs = boto3.client("sqs")

    def url(self, output: str) -> str:
        return str(self.stack.outputs[output])

    def arn(self, output: str) -> str:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url(output), AttributeNames=["QueueArn"]
        )
        return attrs["Attributes"]["QueueArn"]

    def receive(self, output: str, wait: int = 1, max_messages: int = 10) -> list[dict[str, Any]]:
        res = self.sqs.receive_message(
            QueueUrl=self.url(output),
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(res.get("Messages", []))

    def event(self, output: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        arn = self.arn(output)
        return {"Records": [sqs_record(m, arn, self.stack.region) for m in messages]}

    def depth(self, output: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url(output),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


class Stream:
    """The table's stream, read from its start, through the notify trigger's FilterCriteria."""

    def __init__(self, stack: Provisioned) -> None:
        self.stack = stack
        self.mapping = next(m for m in stack.stream_mappings if m.function == "NotifyFunction")
        self.client = boto3.client("dynamodbstreams")
        self.patterns = parse_patterns(self.mapping.filters)
        self.iterators: dict[str, str] = {}
        self.read()  # start after what earlier tests wrote

    def _shards(self) -> list[str]:
        desc = self.client.describe_stream(StreamArn=self.mapping.stream_arn)
        return [s["ShardId"] for s in desc["StreamDescription"]["Shards"]]

    def read(self) -> list[dict[str, Any]]:
        """Every record not read yet, as Lambda would present it."""
        out: list[dict[str, Any]] = []
        for shard in self._shards():
            it = (
                self.iterators.get(shard)
                or self.client.get_shard_iterator(
                    StreamArn=self.mapping.stream_arn,
                    ShardId=shard,
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]
            )
            res = self.client.get_records(ShardIterator=it)
            self.iterators[shard] = res["NextShardIterator"]
            out += [
                stream_record(r, self.mapping.stream_arn, self.stack.region) for r in res["Records"]
            ]
        return out

    def passing_filter(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if matches_any(self.patterns, r)]


class VetInbox:
    """An SQS queue subscribed to the vet topic: what a vet's subscription would receive."""

    def __init__(self, stack: Provisioned) -> None:
        self.sqs = boto3.client("sqs")
        sns = boto3.client("sns")
        self.url = self.sqs.create_queue(
            QueueName=f"vet-inbox-{stack.stage}-{secrets.token_hex(3)}"
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=str(stack.outputs["VetTopicArn"]), Protocol="sqs", Endpoint=arn)

    def messages(self, wait: int = 1) -> list[dict[str, Any]]:
        """SNS envelopes received so far (each: Subject, Message, MessageAttributes)."""
        out = []
        while True:
            res = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            )
            batch = res.get("Messages", [])
            if not batch:
                return out
            for m in batch:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
            wait = 0


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header, whether the resolver answered with headers or multiValueHeaders."""
    single = (response.get("headers") or {}).get(name)
    multi = (response.get("multiValueHeaders") or {}).get(name)
    return single if single is not None else (multi[0] if multi else None)
