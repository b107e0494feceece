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

Each mapping has a stable UUID (`mapping_uuid`: the same template gives the same UUIDs) and
describes itself as Lambda's GetEventSourceMapping does (`configuration()`); the local Lambda
API (`lambda_api`) lists and updates them. Like Lambda's, a mapping asked to pause reports
`Disabling` until its poller has finished the receive in progress, then `Disabled`.
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
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from prediag_tools.local import logs
from prediag_tools.local.aws import client
from prediag_tools.local.filters import FilterError, matches_any, parse_patterns
from prediag_tools.local.metrics import Metrics
from prediag_tools.local.provision import FunctionSpec, SqsMapping, StreamMapping
from prediag_tools.local.runtime import Invocation

LONG_POLL_SECONDS = 1
STREAM_IDLE_SECONDS = 0.25


class Invoker(Protocol):
    """What a poller invokes: a function's worker pool (or the in-process runtime)."""

    spec: FunctionSpec

    def invoke(self, event: Any) -> Invocation: ...


NAMESPACE_UUID = uuid.UUID("6f1d2c5e-7a1b-4c8e-9d3f-0a2b4c6d8e10")


def mapping_uuid(function_arn: str, event_name: str) -> str:
    """The stable UUID of a function's event source mapping (same template, same UUID)."""
    return str(uuid.uuid5(NAMESPACE_UUID, f"{function_arn}#{event_name}"))


class UpdateError(ValueError):
    """An UpdateEventSourceMapping parameter the mapping cannot take."""


def _filter_criteria(filters: list[str]) -> dict[str, Any] | None:
    return {"Filters": [{"Pattern": p} for p in filters]} if filters else None


class _Poller(threading.Thread):
    """Common state: identity, enabled state (as Lambda reports it), stop event."""

    kind = ""

    def __init__(
        self,
        name: str,
        runtime: Invoker,
        enabled: bool,
        source_arn: str,
        metrics: Metrics | None,
    ) -> None:
        super().__init__(name=f"esm-{name}", daemon=True)
        self.mapping_name = name
        self.event_name = name.rsplit(".", 1)[-1]
        self.runtime = runtime
        self.source_arn = source_arn
        self.uuid = mapping_uuid(runtime.spec.arn, self.event_name)
        self.metrics = metrics
        self._enabled = threading.Event()
        if enabled:
            self._enabled.set()
        self.state_name = "Enabled" if enabled else "Disabled"
        self.last_modified = time.time()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled.is_set()

    def set_enabled(self, value: bool) -> None:
        """Ask the mapping to resume or pause. It reports Enabling/Disabling until its poller
        has settled (a pause waits for the receive in progress, as Lambda's does)."""
        with self._lock:
            if value == self.enabled:
                return
            if value:
                self._enabled.set()
            else:
                self._enabled.clear()
            self.state_name = "Enabling" if value else "Disabling"
            self.last_modified = time.time()
        logs.emit("esm", f"{self.mapping_name}: {self.state_name.lower()}")

    def _settle(self) -> None:
        """Called by the poller between reads: the requested state is now the real one."""
        with self._lock:
            settled = "Enabled" if self.enabled else "Disabled"
            if self.state_name != settled:
                self.state_name = settled
                logs.emit("esm", f"{self.mapping_name}: {settled.lower()}")

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def _pause(self, seconds: float) -> None:
        self._stop_event.wait(seconds)

    def _until_enabled(self) -> None:
        """While disabled: return at once when resumed, or after a while to check for a stop."""
        self._enabled.wait(0.2)

    def _count(self, **counts: int) -> None:
        if self.metrics is not None:
            self.metrics.events(self.uuid, **counts)

    def configuration(self) -> dict[str, Any]:
        """The mapping as Lambda's GetEventSourceMapping describes it."""
        spec = self.runtime.spec
        region, account = spec.arn.split(":")[3:5]
        with self._lock:
            state, modified = self.state_name, self.last_modified
        return {
            "UUID": self.uuid,
            "EventSourceArn": self.source_arn,
            "FunctionArn": spec.arn,
            "LastModified": modified,
            "State": state,
            "StateTransitionReason": "USER_INITIATED",
            "EventSourceMappingArn": (
                f"arn:aws:lambda:{region}:{account}:event-source-mapping:{self.uuid}"
            ),
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Apply an UpdateEventSourceMapping request (validated first, then all at once)."""
        raise NotImplementedError

    def _touch(self, changes: dict[str, Any]) -> None:
        """Record an update; a change other than Enabled shows as Updating until it applies."""
        with self._lock:
            self.last_modified = time.time()
            if set(changes) - {"Enabled"}:
                self.state_name = "Updating"


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


def _int_in(changes: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if key not in changes or changes[key] is None:
        return None
    value = changes[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UpdateError(f"{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _filters_of(changes: dict[str, Any]) -> list[str] | None:
    if "FilterCriteria" not in changes:
        return None
    criteria = changes["FilterCriteria"] or {}
    patterns = [str(f.get("Pattern", "")) for f in criteria.get("Filters") or []]
    try:
        parse_patterns(patterns)
    except (ValueError, FilterError) as exc:
        raise UpdateError(f"invalid FilterCriteria: {exc}") from exc
    return patterns


SQS_UPDATABLE = {
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ScalingConfig",
    "FilterCriteria",
    "FunctionResponseTypes",
}


class SqsPoller(_Poller):
    kind = "SQS"

    def __init__(
        self,
        mapping: SqsMapping,
        runtime: Invoker,
        endpoint_url: str,
        region: str,
        *,
        concurrency_cap: int = 10,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(mapping.name, runtime, mapping.enabled, mapping.queue_arn, metrics)
        self.mapping = mapping
        self.region = region
        self.endpoint_url = endpoint_url
        self.sqs = client("sqs", endpoint_url, region, read_timeout=LONG_POLL_SECONDS + 10)
        self.concurrency_cap = concurrency_cap
        self._slots = threading.Condition()
        self._pool = ThreadPoolExecutor(concurrency_cap, thread_name_prefix=f"sqs-{mapping.name}")
        self._patterns = parse_patterns(mapping.filters)
        self.in_flight = 0

    @property
    def concurrency(self) -> int:
        """Concurrent invocations: the mapping's MaximumConcurrency, at most the local cap."""
        return max(1, min(self.mapping.max_concurrency, self.concurrency_cap))

    def configuration(self) -> dict[str, Any]:
        config = {
            **super().configuration(),
            "BatchSize": self.mapping.batch_size,
            "MaximumBatchingWindowInSeconds": self.mapping.batching_window_s,
            "FunctionResponseTypes": (
                ["ReportBatchItemFailures"] if self.mapping.report_batch_item_failures else []
            ),
        }
        if self.mapping.max_concurrency < 1000:
            config["ScalingConfig"] = {"MaximumConcurrency": self.mapping.max_concurrency}
        criteria = _filter_criteria(self.mapping.filters)
        if criteria:
            config["FilterCriteria"] = criteria
        return config

    def update(self, changes: dict[str, Any]) -> None:
        unsupported = set(changes) - SQS_UPDATABLE
        if unsupported:
            raise UpdateError(f"not supported for an SQS mapping: {', '.join(sorted(unsupported))}")
        window = _int_in(changes, "MaximumBatchingWindowInSeconds", 0, 300)
        batch = _int_in(changes, "BatchSize", 1, 10000)
        effective_window = self.mapping.batching_window_s if window is None else window
        if batch is not None and batch > 10 and effective_window < 1:
            raise UpdateError(
                "a BatchSize over 10 needs MaximumBatchingWindowInSeconds of 1 or more"
            )
        concurrency = None
        if "ScalingConfig" in changes:
            concurrency = _int_in(changes["ScalingConfig"] or {}, "MaximumConcurrency", 2, 1000)
        patterns = _filters_of(changes)
        responses = changes.get("FunctionResponseTypes")
        if responses is not None and not set(responses) <= {"ReportBatchItemFailures"}:
            raise UpdateError(f"invalid FunctionResponseTypes {responses!r}")
        if batch is not None:
            self.mapping.batch_size = batch
        if window is not None:
            self.mapping.batching_window_s = window
        if concurrency is not None:
            with self._slots:
                self.mapping.max_concurrency = concurrency
                self._slots.notify_all()
        if patterns is not None:
            self.mapping.filters = patterns
            self._patterns = parse_patterns(patterns)
        if responses is not None:
            self.mapping.report_batch_item_failures = "ReportBatchItemFailures" in responses
        self._touch(changes)
        if "Enabled" in changes:
            self.set_enabled(bool(changes["Enabled"]))

    def _take_slot(self, timeout: float) -> bool:
        with self._slots:
            if self.in_flight >= self.concurrency:
                self._slots.wait(timeout)
            if self.in_flight >= self.concurrency:
                return False
            self.in_flight += 1
            return True

    def _free_slot(self) -> None:
        with self._slots:
            self.in_flight -= 1
            self._slots.notify()

    def run(self) -> None:
        try:
            while not self.stopping:
                self._settle()
                if not self.enabled:
                    self._until_enabled()
                    continue
                if not self._take_slot(0.5):
                    continue
                try:
                    messages = self._receive_batch() if self.enabled else []
                except (BotoCoreError, ClientError) as exc:
                    self._free_slot()
                    if self.stopping:
                        break
                    self.last_error = str(exc)
                    logs.emit("esm", f"{self.mapping_name}: receive failed: {exc}")
                    self._pause(1.0)
                    continue
                if not messages:
                    self._free_slot()
                    continue
                self._count(PolledEventCount=len(messages))
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
            if window <= 0:
                break
        return messages

    def _process(self, messages: list[dict[str, Any]]) -> None:
        try:
            records = [sqs_record(m, self.mapping.queue_arn, self.region) for m in messages]
            if self._patterns:
                patterns = self._patterns
                kept = [r for r in records if matches_any(patterns, _sqs_filter_view(r))]
                dropped = [r for r in records if r not in kept]
                if dropped:
                    # Lambda deletes the messages that no filter matches
                    self._count(FilteredOutEventCount=len(dropped))
                    self._delete_messages(dropped)
                records = kept
            if not records:
                return
            self._count(InvokedEventCount=len(records))
            result = self.runtime.invoke({"Records": records})
            if not result.ok:
                self.last_error = f"{result.error_type}: {result.error_message}"
                self._count(FailedInvokeEventCount=len(records))
                # nothing is deleted: the batch comes back after the visibility timeout
                return
            to_delete = records
            if self.mapping.report_batch_item_failures:
                ids = [r["messageId"] for r in records]
                failed = failed_item_ids(result.response, ids)
                if failed is None:
                    self.last_error = "invalid batchItemFailures response: whole batch failed"
                    logs.emit("esm", f"{self.mapping_name}: {self.last_error}")
                    self._count(FailedInvokeEventCount=len(records))
                    return
                to_delete = [r for r in records if r["messageId"] not in failed]
                self._count(FailedInvokeEventCount=len(failed))
            self._delete_messages(to_delete)
            self._count(DeletedEventCount=len(to_delete))
        except Exception as exc:  # a poller never dies of one batch
            self.last_error = f"{type(exc).__name__}: {exc}"
            logs.emit("esm", f"{self.mapping_name}: batch handling failed: {self.last_error}")
        finally:
            self._free_slot()

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


STREAM_UPDATABLE = {
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "BisectBatchOnFunctionError",
    "FilterCriteria",
    "FunctionResponseTypes",
    "DestinationConfig",
}


class StreamPoller(_Poller):
    kind = "DynamoDBStreams"

    def __init__(
        self,
        mapping: StreamMapping,
        runtime: Invoker,
        endpoint_url: str,
        region: str,
        *,
        retry_backoff_s: Callable[[int], float] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(mapping.name, runtime, mapping.enabled, mapping.stream_arn, metrics)
        self.mapping = mapping
        self.region = region
        self.streams = client("dynamodbstreams", endpoint_url, region)
        self.sqs = client("sqs", endpoint_url, region)
        self.sns = client("sns", endpoint_url, region)
        self._patterns = parse_patterns(mapping.filters)
        self._iterators: dict[str, str | None] = {}
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self.last_processing_result = "No records processed"
        self._shards_checked = 0.0
        self._backoff = retry_backoff_s or (lambda attempt: min(5.0, 0.2 * 2**attempt))

    def configuration(self) -> dict[str, Any]:
        m = self.mapping
        config = {
            **super().configuration(),
            "StartingPosition": m.starting_position,
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.batching_window_s,
            "ParallelizationFactor": 1,
            "LastProcessingResult": self.last_processing_result,
            "DestinationConfig": {
                "OnFailure": {"Destination": m.on_failure_arn} if m.on_failure_arn else {}
            },
            "MaximumRecordAgeInSeconds": m.max_record_age_s,
            "BisectBatchOnFunctionError": m.bisect_on_error,
            "MaximumRetryAttempts": m.max_retry_attempts,
            "TumblingWindowInSeconds": 0,
            "FunctionResponseTypes": (
                ["ReportBatchItemFailures"] if m.report_batch_item_failures else []
            ),
        }
        criteria = _filter_criteria(m.filters)
        if criteria:
            config["FilterCriteria"] = criteria
        return config

    def update(self, changes: dict[str, Any]) -> None:
        unsupported = set(changes) - STREAM_UPDATABLE
        if unsupported:
            raise UpdateError(
                f"not supported for a stream mapping: {', '.join(sorted(unsupported))}"
            )
        batch = _int_in(changes, "BatchSize", 1, 10000)
        window = _int_in(changes, "MaximumBatchingWindowInSeconds", 0, 300)
        retries = _int_in(changes, "MaximumRetryAttempts", -1, 10000)
        patterns = _filters_of(changes)
        responses = changes.get("FunctionResponseTypes")
        if responses is not None and not set(responses) <= {"ReportBatchItemFailures"}:
            raise UpdateError(f"invalid FunctionResponseTypes {responses!r}")
        destination: str | None = None
        if "DestinationConfig" in changes:
            on_failure = (changes["DestinationConfig"] or {}).get("OnFailure") or {}
            destination = on_failure.get("Destination") or ""
            if destination and not destination.startswith(("arn:aws:sqs:", "arn:aws:sns:")):
                raise UpdateError(f"OnFailure destination {destination} is not a queue or topic")
        m = self.mapping
        if batch is not None:
            m.batch_size = batch
        if window is not None:
            m.batching_window_s = window
        if retries is not None:
            m.max_retry_attempts = retries
        if "BisectBatchOnFunctionError" in changes:
            m.bisect_on_error = bool(changes["BisectBatchOnFunctionError"])
        if patterns is not None:
            m.filters = patterns
            self._patterns = parse_patterns(patterns)
        if responses is not None:
            m.report_batch_item_failures = "ReportBatchItemFailures" in responses
        if destination is not None:
            m.on_failure_arn = destination or None
            m.on_failure_url = None
            if destination.startswith("arn:aws:sqs:"):
                name = destination.rsplit(":", 1)[-1]
                m.on_failure_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self._touch(changes)
        if "Enabled" in changes:
            self.set_enabled(bool(changes["Enabled"]))

    def run(self) -> None:
        # iterators are taken at start, so LATEST means "records written from now on"
        self._open_shards()
        while not self.stopping:
            self._settle()
            if not self.enabled:
                self._until_enabled()
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
        raws = response.get("Records") or []
        filtered = 0
        for raw in raws:
            record = stream_record(raw, self.mapping.stream_arn, self.region)
            if matches_any(self._patterns, record):
                buffer.append(record)
            else:
                filtered += 1
        self._count(PolledEventCount=len(raws), FilteredOutEventCount=filtered)

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
            self._count(InvokedEventCount=len(batch))
            result = self.runtime.invoke({"Records": batch})
            failed_from = self._first_failure(result, batch)
            if failed_from is None:
                self.last_processing_result = "OK"
                del buffer[: len(batch)]
                attempts = 0
                batch_size = self.mapping.batch_size
                if len(buffer) < self.mapping.batch_size:
                    return  # let the poller read more before the next batch
                continue
            self.last_processing_result = "PROBLEM: Function call failed"
            self._count(FailedInvokeEventCount=len(batch) - failed_from)
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
            self._count(DroppedEventCount=len(records))
            return
        body = json.dumps(record)
        if self.mapping.on_failure_url:
            self.sqs.send_message(QueueUrl=self.mapping.on_failure_url, MessageBody=body)
        elif target.startswith("arn:aws:sns:"):
            self.sns.publish(TopicArn=target, Message=body)
        self._count(OnFailureDestinationDeliveredEventCount=len(records))


def _iso(epoch: Any) -> str | None:
    if epoch is None:
        return None
    return (
        datetime.fromtimestamp(float(epoch), UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
