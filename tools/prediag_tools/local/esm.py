"""Event source mappings: the SQS and DynamoDB stream pollers Lambda runs for a function.

`SqsPoller` long-polls a queue and invokes the function with batches, up to the mapping's
MaximumConcurrency at once; messages are deleted after a successful invocation, except those the
function reports in `batchItemFailures` (ReportBatchItemFailures). A failed or timed-out
invocation deletes nothing: the messages come back after the queue's visibility timeout, and the
queue's own redrive policy moves them to the DLQ.

`StreamPoller` reads a DynamoDB stream shard by shard in order, drops records no filter matches,
invokes the function with batches, and on failure retries from the first failed record (whole
batch on an error, the lowest reported sequence number with ReportBatchItemFailures), bisecting
the batch if configured, until MaximumRetryAttempts; then it sends an invocation record to the
OnFailure destination and moves on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prediag_tools.local import logs
from prediag_tools.local.aws import client
from prediag_tools.local.filters import matches_any, parse_patterns
from prediag_tools.local.provision import SqsMapping, StreamMapping
from prediag_tools.local.runtime import FunctionRuntime, Invocation

LONG_POLL_SECONDS = 1
STREAM_IDLE_SECONDS = 0.25


class _Poller(threading.Thread):
    """Common state: name, enabled flag, stop event, counters."""

    def __init__(self, name: str, runtime: FunctionRuntime, enabled: bool) -> None:
        super().__init__(name=f"esm-{name}", daemon=True)
        self.mapping_name = name
        self.runtime = runtime
        self._enabled = threading.Event()
        if enabled:
            self._enabled.set()
        self._stop_event = threading.Event()
        self._idle = threading.Event()  # set while no read from the source is in progress
        self._idle.set()
        self.invocations = 0
        self.failed_invocations = 0
        self.filtered_out = 0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    def set_enabled(self, value: bool) -> None:
        """Resume or pause; pausing returns once no read from the source is in progress."""
        if value:
            self._enabled.set()
        else:
            self._enabled.clear()
            self._idle.wait(LONG_POLL_SECONDS + 5)
        logs.emit("esm", f"{self.mapping_name}: {'enabled' if value else 'disabled'}")

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def _pause(self, seconds: float) -> None:
        self._stop_event.wait(seconds)

    def state(self) -> dict[str, Any]:
        return {
            "name": self.mapping_name,
            "function": self.runtime.spec.name,
            "state": "Enabled" if self.enabled else "Disabled",
            "invocations": self.invocations,
            "failedInvocations": self.failed_invocations,
            "filteredOut": self.filtered_out,
            "lastError": self.last_error,
        }


# ---------------------------------------------------------------------- SQS
def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event Lambda sends, from a ReceiveMessage message."""
    attributes = dict(message.get("Attributes") or {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _sqs_filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """What SQS filter patterns see: the record, with a JSON body parsed."""
    view = dict(record)
    with contextlib.suppress(TypeError, ValueError):
        view["body"] = json.loads(record["body"])
    return view


def failed_item_ids(response: Any, batch_ids: list[str]) -> list[str] | None:
    """The batchItemFailures identifiers, or None if the response is not a valid report.

    Lambda treats an invalid report (not an object, unknown or empty itemIdentifier) as a
    failure of the whole batch.
    """
    if response is None or response == {}:
        return []
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return None
    ids: list[str] = []
    for failure in failures:
        if not isinstance(failure, dict):
            return None
        item = failure.get("itemIdentifier")
        if not item or item not in batch_ids:
            return None
        ids.append(str(item))
    return ids


class SqsPoller(_Poller):
    def __init__(
        self,
        mapping: SqsMapping,
        runtime: FunctionRuntime,
        endpoint_url: str,
        region: str,
        *,
        concurrency_cap: int = 10,
    ) -> None:
        super().__init__(mapping.name, runtime, mapping.enabled)
        self.mapping = mapping
        self.region = region
        self.endpoint_url = endpoint_url
        self.sqs = client("sqs", endpoint_url, region, read_timeout=LONG_POLL_SECONDS + 10)
        self.concurrency = max(1, min(mapping.max_concurrency, concurrency_cap))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"sqs-{mapping.name}")
        self._patterns = parse_patterns(mapping.filters)
        self.in_flight = 0
        self._count_lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "type": "SQS",
            "eventSourceArn": self.mapping.queue_arn,
            "batchSize": self.mapping.batch_size,
            "maximumBatchingWindowInSeconds": self.mapping.batching_window_s,
            "maximumConcurrency": self.concurrency,
            "inFlight": self.in_flight,
        }

    def run(self) -> None:
        try:
            while not self.stopping:
                if not self.enabled:
                    self._pause(0.2)
                    continue
                if not self._slots.acquire(timeout=0.5):
                    continue
                self._idle.clear()
                try:
                    messages = self._receive_batch() if self.enabled else []
                except (BotoCoreError, ClientError) as exc:
                    self._idle.set()
                    self._slots.release()
                    if self.stopping:
                        break
                    self.last_error = str(exc)
                    logs.emit("esm", f"{self.mapping_name}: receive failed: {exc}")
                    self._pause(1.0)
                    continue
                self._idle.set()
                if not messages:
                    self._slots.release()
                    continue
                with self._count_lock:
                    self.in_flight += 1
                self._pool.submit(self._process, messages)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _receive_batch(self) -> list[dict[str, Any]]:
        wanted = self.mapping.batch_size
        window = self.mapping.batching_window_s
        deadline = time.monotonic() + window
        messages: list[dict[str, Any]] = []
        while not self.stopping and self.enabled and len(messages) < wanted:
            remaining = deadline - time.monotonic()
            if messages and remaining <= 0:
                break
            wait = LONG_POLL_SECONDS if not messages else max(0, min(LONG_POLL_SECONDS, remaining))
            response = self.sqs.receive_message(
                QueueUrl=self.mapping.queue_url,
                MaxNumberOfMessages=min(10, wanted - len(messages)),
                WaitTimeSeconds=round(wait),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch = response.get("Messages") or []
            messages.extend(batch)
            if not messages:
                return []  # nothing arrived during one long poll: let the loop check its flags
            if window <= 0 and batch:
                break
            if window <= 0 and not batch:
                break
        return messages

    def _process(self, messages: list[dict[str, Any]]) -> None:
        try:
            records = [sqs_record(m, self.mapping.queue_arn, self.region) for m in messages]
            if self._patterns:
                kept = [r for r in records if matches_any(self._patterns, _sqs_filter_view(r))]
                dropped = [r for r in records if r not in kept]
                if dropped:
                    # Lambda deletes the messages that no filter matches
                    self.filtered_out += len(dropped)
                    self._delete_messages(dropped)
                records = kept
            if not records:
                return
            result = self.runtime.invoke({"Records": records})
            self.invocations += 1
            if not result.ok:
                self.failed_invocations += 1
                self.last_error = f"{result.error_type}: {result.error_message}"
                # nothing is deleted: the batch comes back after the visibility timeout
                return
            to_delete = records
            if self.mapping.report_batch_item_failures:
                ids = [r["messageId"] for r in records]
                failed = failed_item_ids(result.response, ids)
                if failed is None:
                    self.failed_invocations += 1
                    self.last_error = "invalid batchItemFailures response: whole batch failed"
                    logs.emit("esm", f"{self.mapping_name}: {self.last_error}")
                    return
                to_delete = [r for r in records if r["messageId"] not in failed]
            self._delete_messages(to_delete)
        except Exception as exc:  # a poller never dies of one batch
            self.last_error = f"{type(exc).__name__}: {exc}"
            logs.emit("esm", f"{self.mapping_name}: batch handling failed: {self.last_error}")
        finally:
            with self._count_lock:
                self.in_flight -= 1
            self._slots.release()

    def _delete_messages(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
                ],
            )
            for failure in response.get("Failed") or []:
                logs.emit("esm", f"{self.mapping_name}: delete failed: {failure}")


# ---------------------------------------------------------------------- DynamoDB streams
def _jsonable(value: Any) -> Any:
    """boto3 gives binary attribute values as bytes; Lambda sends them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def stream_record(raw: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One record of the DynamoDB stream event Lambda sends, from a GetRecords record."""
    ddb = dict(raw.get("dynamodb") or {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        created = int(created.replace(tzinfo=created.tzinfo or UTC).timestamp())
    body: dict[str, Any] = {"ApproximateCreationDateTime": created}
    for key in ("Keys", "NewImage", "OldImage"):
        if key in ddb:
            body[key] = _jsonable(ddb[key])
    body["SequenceNumber"] = ddb.get("SequenceNumber")
    body["SizeBytes"] = ddb.get("SizeBytes")
    body["StreamViewType"] = ddb.get("StreamViewType")
    record: dict[str, Any] = {
        "eventID": raw.get("eventID") or uuid.uuid4().hex,
        "eventName": raw.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if raw.get("userIdentity"):
        record["userIdentity"] = raw["userIdentity"]
    return record


class StreamPoller(_Poller):
    def __init__(
        self,
        mapping: StreamMapping,
        runtime: FunctionRuntime,
        endpoint_url: str,
        region: str,
        *,
        retry_backoff_s: Callable[[int], float] | None = None,
    ) -> None:
        super().__init__(mapping.name, runtime, mapping.enabled)
        self.mapping = mapping
        self.region = region
        self.streams = client("dynamodbstreams", endpoint_url, region)
        self.sqs = client("sqs", endpoint_url, region)
        self.sns = client("sns", endpoint_url, region)
        self._patterns = parse_patterns(mapping.filters)
        self._iterators: dict[str, str | None] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self.sent_to_on_failure = 0
        self._shards_checked = 0.0
        self._backoff = retry_backoff_s or (lambda attempt: min(5.0, 0.2 * 2**attempt))

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "type": "DynamoDBStreams",
            "eventSourceArn": self.mapping.stream_arn,
            "batchSize": self.mapping.batch_size,
            "startingPosition": self.mapping.starting_position,
            "maximumRetryAttempts": self.mapping.max_retry_attempts,
            "bisectBatchOnFunctionError": self.mapping.bisect_on_error,
            "onFailure": self.mapping.on_failure_arn,
            "sentToOnFailure": self.sent_to_on_failure,
        }

    def run(self) -> None:
        # iterators are taken at start, so LATEST means "records written from now on"
        self._open_shards()
        while not self.stopping:
            if not self.enabled:
                self._pause(0.2)
                continue
            try:
                worked = False
                if time.monotonic() - self._shards_checked > 5:
                    self._open_shards()
                for shard_id in list(self._iterators):
                    worked |= self._poll_shard(shard_id)
                if not worked:
                    self._pause(STREAM_IDLE_SECONDS)
            except (BotoCoreError, ClientError) as exc:
                if self.stopping:
                    break
                self.last_error = str(exc)
                logs.emit("esm", f"{self.mapping_name}: stream read failed: {exc}")
                self._pause(1.0)

    def _open_shards(self) -> None:
        self._shards_checked = time.monotonic()
        description = self.streams.describe_stream(StreamArn=self.mapping.stream_arn)
        for shard in description["StreamDescription"].get("Shards") or []:
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            iterator = self.streams.get_shard_iterator(
                StreamArn=self.mapping.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=self.mapping.starting_position,
            )["ShardIterator"]
            self._iterators[shard_id] = iterator
            self._buffers[shard_id] = []

    def _fill(self, shard_id: str) -> None:
        buffer = self._buffers[shard_id]
        iterator = self._iterators[shard_id]
        if iterator is None or len(buffer) >= self.mapping.batch_size:
            return
        response = self.streams.get_records(ShardIterator=iterator, Limit=1000)
        self._iterators[shard_id] = response.get("NextShardIterator")
        for raw in response.get("Records") or []:
            record = stream_record(raw, self.mapping.stream_arn, self.region)
            if matches_any(self._patterns, record):
                buffer.append(record)
            else:
                self.filtered_out += 1

    def _poll_shard(self, shard_id: str) -> bool:
        self._fill(shard_id)
        buffer = self._buffers[shard_id]
        if not buffer:
            return False
        if self.mapping.batching_window_s > 0 and len(buffer) < self.mapping.batch_size:
            deadline = time.monotonic() + self.mapping.batching_window_s
            while time.monotonic() < deadline and not self.stopping:
                self._pause(min(0.25, max(0.0, deadline - time.monotonic())))
                self._fill(shard_id)
                if len(buffer) >= self.mapping.batch_size:
                    break
        self._deliver(shard_id, buffer)
        return True

    def _deliver(self, shard_id: str, buffer: list[dict[str, Any]]) -> None:
        """Invoke with the head of the buffer until it is processed or given up."""
        batch_size = self.mapping.batch_size
        attempts = 0
        while buffer and not self.stopping:
            if not self.enabled:
                return
            batch = buffer[:batch_size]
            result = self.runtime.invoke({"Records": batch})
            self.invocations += 1
            failed_from = self._first_failure(result, batch)
            if failed_from is None:
                del buffer[: len(batch)]
                attempts = 0
                batch_size = self.mapping.batch_size
                if len(buffer) < self.mapping.batch_size:
                    return  # let the poller read more before the next batch
                continue
            self.failed_invocations += 1
            if failed_from > 0:
                del buffer[:failed_from]  # checkpoint: retry from the first failed record
            bisect = self.mapping.bisect_on_error and not result.ok and len(batch) > 1
            if bisect:
                batch_size = max(1, len(batch) // 2)  # splitting does not use up a retry
            else:
                attempts += 1
            retries = self.mapping.max_retry_attempts
            if retries >= 0 and attempts > retries:
                given_up = buffer[: len(batch) - failed_from]
                self._on_failure(shard_id, given_up, result, attempts)
                del buffer[: len(given_up)]
                attempts = 0
                batch_size = self.mapping.batch_size
                continue
            self._pause(self._backoff(attempts))

    def _first_failure(self, result: Invocation, batch: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the whole batch succeeded."""
        if not result.ok:
            self.last_error = f"{result.error_type}: {result.error_message}"
            return 0
        if not self.mapping.report_batch_item_failures:
            return None
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed = failed_item_ids(result.response, sequence_numbers)
        if failed is None:
            self.last_error = "invalid batchItemFailures response: whole batch retried"
            return 0
        if not failed:
            return None
        self.last_error = f"batchItemFailures: {', '.join(failed)}"
        return min(sequence_numbers.index(f) for f in failed)

    def _on_failure(
        self, shard_id: str, records: list[dict[str, Any]], result: Invocation, attempts: int
    ) -> None:
        if not records:
            return
        arrival = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        now = datetime.now(UTC)
        record = {
            "requestContext": {
                "requestId": result.request_id,
                "functionArn": self.runtime.spec.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if not result.ok else "",
            },
            "version": "1.0",
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrival[0]),
                "approximateArrivalOfLastRecord": _iso(arrival[-1]),
                "batchSize": len(records),
                "streamArn": self.mapping.stream_arn,
            },
        }
        target = self.mapping.on_failure_arn
        logs.emit(
            "esm",
            f"{self.mapping_name}: {len(records)} record(s) given up after {attempts} "
            f"attempt(s) -> {target or 'dropped (no OnFailure destination)'}",
        )
        if target is None:
            return
        body = json.dumps(record)
        if self.mapping.on_failure_url:
            self.sqs.send_message(QueueUrl=self.mapping.on_failure_url, MessageBody=body)
        elif target.startswith("arn:aws:sns:"):
            self.sns.publish(TopicArn=target, Message=body)
        self.sent_to_on_failure += len(records)


def _iso(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return (
        datetime.fromtimestamp(float(epoch), UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
