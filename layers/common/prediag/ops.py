"""Operating the queues: statistics, redrive, pause/resume and cleanup.

One implementation serves the admin routes of the API, the `prediag` CLI and the local stack;
only the adapters differ (boto3 clients bound to AWS or to the local moto server, and the
`EsmControl` port that pauses the analysis).

Statistics per lane, in the terms of the old Bull `getQueueStats` (each count is SQS's own
approximate attribute, read once):

- waiting:  ApproximateNumberOfMessages - visible messages, ready for the analysis.
- delayed:  ApproximateNumberOfMessagesDelayed (messages sent with a delay; the pipeline sends
            none) + `retrying`.
- retrying: records of the lane that are `pending` after a failed attempt whose backoff has not
            elapsed yet (now < end of the failed attempt + backoff(attempt)). Their messages
            are hidden by ChangeMessageVisibility, so SQS counts them as not visible.
- active:   ApproximateNumberOfMessagesNotVisible - retrying (never below 0): messages an
            analysis holds right now (in flight).
- dead:     messages in the lane's dead-letter queue (visible + not visible).
Table-wide, from the byStatus index (KEYS_ONLY, Select=COUNT): pending, processing, completed,
failed. The index has no lane, so these are totals.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, ValidationError

from prediag.errors import ConflictError, NotFoundError, PrediagError
from prediag.models import (
    Attempt,
    Contract,
    Lane,
    PreDiagnosis,
    QueueMessage,
    Status,
    utcnow,
)
from prediag.repository import Repository, from_item
from prediag.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    # prediag.service is imported only when used: it creates Powertools loggers, whose names
    # depend on POWERTOOLS_SERVICE_NAME, and tools import this module before setting it
    from prediag.service import JobPolicy


class OpsError(PrediagError):
    """An operation cannot be carried out as asked (no trigger to pause, a queue missing...)."""


# ---------------------------------------------------------------------- topology
@dataclass(frozen=True)
class LaneQueues:
    lane: Lane
    queue_url: str
    dlq_url: str


@dataclass(frozen=True)
class Topology:
    """Where the pipeline's queues, tables and analysis function are."""

    table_name: str
    lanes: tuple[LaneQueues, ...]
    idempotency_table_name: str | None = None
    analyze_function_name: str | None = None
    notify_failure_queue_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        """Inside a function: the environment the template wires."""
        if not settings.urgent_dlq_url or not settings.normal_dlq_url:
            raise OpsError("URGENT_DLQ_URL and NORMAL_DLQ_URL must be set for queue operations")
        return cls(
            table_name=settings.table_name,
            lanes=(
                LaneQueues(Lane.URGENT, settings.urgent_queue_url, settings.urgent_dlq_url),
                LaneQueues(Lane.NORMAL, settings.normal_queue_url, settings.normal_dlq_url),
            ),
            idempotency_table_name=settings.idempotency_table_name,
            analyze_function_name=settings.analyze_function_name,
        )

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Topology:
        """From a stack's Outputs (CloudFormation DescribeStacks, or the local stack's)."""
        try:
            return cls(
                table_name=str(outputs["PreDiagnosesTableName"]),
                lanes=(
                    LaneQueues(
                        Lane.URGENT, str(outputs["UrgentQueueUrl"]), str(outputs["UrgentDlqUrl"])
                    ),
                    LaneQueues(
                        Lane.NORMAL, str(outputs["NormalQueueUrl"]), str(outputs["NormalDlqUrl"])
                    ),
                ),
                idempotency_table_name=_opt(outputs.get("IdempotencyTableName")),
                analyze_function_name=_opt(outputs.get("AnalyzeFunctionName")),
                notify_failure_queue_url=_opt(outputs.get("NotifyFailureQueueUrl")),
            )
        except KeyError as exc:
            raise OpsError(f"the stack has no output {exc.args[0]}") from exc

    def lane(self, lane: Lane) -> LaneQueues:
        return next(q for q in self.lanes if q.lane is lane)

    def selected(self, lanes: Iterable[Lane] | None) -> tuple[LaneQueues, ...]:
        wanted = set(lanes) if lanes else {q.lane for q in self.lanes}
        return tuple(q for q in self.lanes if q.lane in wanted)

    def lane_of_queue_arn(self, arn: str) -> Lane | None:
        name = arn.rsplit(":", 1)[-1]
        return next((q.lane for q in self.lanes if queue_name(q.queue_url) == name), None)


def _opt(value: Any) -> str | None:
    return str(value) if value else None


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def queue_arn(sqs: SQSClient, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return attrs["QueueArn"]


# ---------------------------------------------------------------------- status index
class StatusIndex:
    """The table's byStatus index (status, createdAt; KEYS_ONLY) and the few reads ops needs."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def _query(self, status: Status, **extra: Any) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "IndexName": "byStatus",
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status.value}},
            **extra,
        }

    def count(self, status: Status) -> int:
        """Records in `status` (every page of a Select=COUNT query)."""
        total = 0
        kwargs = self._query(status, Select="COUNT")
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
        kwargs = self._query(status, ScanIndexForward=False, Limit=min(limit, 1000))
        while len(found) < limit:
            res = self.client.query(**kwargs)
            found += [item["id"]["S"] for item in res.get("Items", [])]
            last = res.get("LastEvaluatedKey")
            if not last:
                return found[:limit], len(found) > limit
            kwargs["ExclusiveStartKey"] = last
        return found[:limit], True

    def lanes_and_attempts(self, ids: Sequence[str]) -> dict[str, tuple[Lane, list[Attempt]]]:
        """Lane and attempt history of each record (BatchGetItem, only those attributes)."""
        out: dict[str, tuple[Lane, list[Attempt]]] = {}
        for start in range(0, len(ids), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{"id": {"S": i}} for i in ids[start : start + 100]],
                    "ProjectionExpression": "#id, #lane, #attempts",
                    "ExpressionAttributeNames": {
                        "#id": "id",
                        "#lane": "lane",
                        "#attempts": "attempts",
                    },
                }
            }
            while request:
                res = self.client.batch_get_item(RequestItems=request)
                for item in res.get("Responses", {}).get(self.table_name, []):
                    plain = from_item(item)
                    attempts = [Attempt.model_validate(a) for a in plain.get("attempts", [])]
                    out[plain["id"]] = (Lane(plain["lane"]), attempts)
                request = dict(res.get("UnprocessedKeys") or {})
        return out


# ---------------------------------------------------------------------- statistics
class LaneStats(Contract):
    lane: Lane
    waiting: int = Field(description="Visible messages, ready for the analysis")
    active: int = Field(description="Messages an analysis holds now (not visible - retrying)")
    delayed: int = Field(description="Messages sent with a delay + retrying")
    retrying: int = Field(description="Pending records waiting out a retry backoff")
    dead: int = Field(description="Messages in the lane's dead-letter queue")


class QueueStats(Contract):
    """getQueueStats of the old worker, per lane and in total, with the records' statuses."""

    at: datetime
    lanes: list[LaneStats]
    waiting: int
    active: int
    delayed: int
    dead: int
    pending: int = Field(description="Records pending (waiting, retrying or just redriven)")
    processing: int = Field(description="Records with an attempt in progress")
    completed: int
    failed: int
    retrying_exact: bool = Field(
        description="False when more pending records exist than were examined for backoffs"
    )


_LANE_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def _attributes(sqs: SQSClient, url: str) -> dict[str, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_LANE_ATTRIBUTES)  # type: ignore[arg-type]
    return {k: int(v) for k, v in attrs.get("Attributes", {}).items() if v.isdigit()}


def retrying_by_lane(
    index: StatusIndex, policy: JobPolicy, now: datetime, *, scan_limit: int = 1000
) -> tuple[dict[Lane, int], bool]:
    """Pending records whose last attempt failed and whose backoff has not elapsed, per lane.

    Examines at most `scan_limit` pending records (newest first); the flag is False when there
    were more.
    """
    ids, more = index.ids(Status.PENDING, limit=scan_limit)
    counts: dict[Lane, int] = {}
    for lane, attempts in index.lanes_and_attempts(ids).values():
        last = attempts[-1] if attempts else None
        if last is None or last.outcome != "failed" or last.ended_at is None:
            continue
        if now < last.ended_at + timedelta(seconds=policy.backoff(last.number)):
            counts[lane] = counts.get(lane, 0) + 1
    return counts, not more


def queue_stats(
    topology: Topology,
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    *,
    policy: JobPolicy | None = None,
    now: datetime | None = None,
    scan_limit: int = 1000,
) -> QueueStats:
    """Waiting, active, delayed, retrying and dead per lane; statuses from the table."""
    now = now or utcnow()
    index = StatusIndex(topology.table_name, dynamodb)
    statuses = {status: index.count(status) for status in Status}
    if policy is None:
        from prediag.service import JobPolicy

        policy = JobPolicy()
    retrying, exact = retrying_by_lane(index, policy, now, scan_limit=scan_limit)
    lanes: list[LaneStats] = []
    for queues in topology.lanes:
        attrs = _attributes(sqs, queues.queue_url)
        dlq = _attributes(sqs, queues.dlq_url)
        backing_off = retrying.get(queues.lane, 0)
        not_visible = attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        lanes.append(
            LaneStats(
                lane=queues.lane,
                waiting=attrs.get("ApproximateNumberOfMessages", 0),
                active=max(0, not_visible - backing_off),
                delayed=attrs.get("ApproximateNumberOfMessagesDelayed", 0) + backing_off,
                retrying=backing_off,
                dead=dlq.get("ApproximateNumberOfMessages", 0)
                + dlq.get("ApproximateNumberOfMessagesNotVisible", 0),
            )
        )
    return QueueStats(
        at=now,
        lanes=lanes,
        waiting=sum(s.waiting for s in lanes),
        active=sum(s.active for s in lanes),
        delayed=sum(s.delayed for s in lanes),
        dead=sum(s.dead for s in lanes),
        pending=statuses[Status.PENDING],
        processing=statuses[Status.PROCESSING],
        completed=statuses[Status.COMPLETED],
        failed=statuses[Status.FAILED],
        retrying_exact=exact,
    )


def list_jobs(
    index: StatusIndex, repo: Repository, status: Status, *, limit: int = 20
) -> list[PreDiagnosis]:
    """The newest records in `status` (full records, read one by one)."""
    ids, _ = index.ids(status, limit=limit)
    records = (repo.get(i) for i in ids)
    return [r for r in records if r is not None]


# ---------------------------------------------------------------------- dead letters
HOLD_SECONDS = 120
"""How long messages taken from a dead-letter queue stay hidden while a redrive decides."""


@dataclass
class _Held:
    message_id: str
    receipt_handle: str
    body: str
    sent_at: datetime | None
    job_id: str | None


def _hold_all(sqs: SQSClient, url: str, *, limit: int, hold_s: int = HOLD_SECONDS) -> list[_Held]:
    """Take (hide for `hold_s`) up to `limit` messages of a queue.

    Short polls while they return messages; after an empty one, stops if the queue reports no
    visible message, else tries once more with a long poll (a short poll samples only some of
    SQS's servers and may come back empty while messages remain).
    """
    held: list[_Held] = []
    wait = 0
    while len(held) < limit:
        res = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(held)),
            WaitTimeSeconds=wait,
            VisibilityTimeout=hold_s,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        batch = res.get("Messages", [])
        if batch:
            held += [_held(m) for m in batch]
            wait = 0
            continue
        if wait or not _attributes(sqs, url).get("ApproximateNumberOfMessages", 0):
            break
        wait = 1
    return held


def _held(message: MessageTypeDef) -> _Held:
    body = message.get("Body", "")
    try:
        job_id: str | None = QueueMessage.model_validate_json(body).pre_diagnosis_id
    except ValidationError:
        job_id = None
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent) / 1000, tz=UTC) if sent else None
    return _Held(message["MessageId"], message["ReceiptHandle"], body, sent_at, job_id)


def _release(sqs: SQSClient, url: str, held: Iterable[_Held]) -> None:
    """Make held messages visible again at once."""
    items = list(held)
    for start in range(0, len(items), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h.receipt_handle, "VisibilityTimeout": 0}
                for i, h in enumerate(items[start : start + 10])
            ],
        )


def _delete(sqs: SQSClient, url: str, held: Iterable[_Held]) -> None:
    items = list(held)
    for start in range(0, len(items), 10):
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h.receipt_handle}
                for i, h in enumerate(items[start : start + 10])
            ],
        )


# ---------------------------------------------------------------------- redrive
STRANDED_AFTER = timedelta(minutes=15)
"""Lambda's longest timeout: an attempt started longer ago than this is not running anymore."""
STRANDED_REASON = "the last attempt never finished (the function crashed or timed out)"


def stranded(record: PreDiagnosis, now: datetime) -> bool:
    """A record left `processing` by an attempt that died: a crash or timeout on the last
    attempt sends the message to the DLQ on its next receive without any code running, so the
    record never becomes `failed`. Redrive treats it as failed."""
    last = record.attempts[-1] if record.attempts else None
    return (
        record.status is Status.PROCESSING
        and last is not None
        and last.outcome == "running"
        and last.started_at < now - STRANDED_AFTER
    )


RedriveAction = Literal["redriven", "would_redrive", "skipped", "error"]


class RedriveItem(Contract):
    lane: Lane
    id: str | None = Field(default=None, description="Pre-diagnosis id (None: unreadable body)")
    message_id: str | None = Field(default=None, description="Dead-letter message id")
    action: RedriveAction
    reason: str | None = None


class LaneRedrive(Contract):
    lane: Lane
    method: Literal["move_task", "receive_send_delete", "none"]
    task_handle: str | None = None
    note: str | None = Field(default=None, description="Why the move task was not used")


class RedriveReport(Contract):
    dry_run: bool
    lanes: list[LaneRedrive]
    items: list[RedriveItem]

    @property
    def redriven(self) -> list[str]:
        return [i.id for i in self.items if i.action == "redriven" and i.id]

    @property
    def would_redrive(self) -> list[str]:
        return [i.id for i in self.items if i.action == "would_redrive" and i.id]


UNSUPPORTED_CODES = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "UnknownOperationException",
        "NotImplemented",
        "501",
    }
)


def move_task_unsupported(exc: ClientError) -> bool:
    """The endpoint does not know StartMessageMoveTask (an emulator, an old partition).

    Besides the documented codes, an emulator that has no handler for the action answers a
    bare HTTP 500 whose body is not an AWS error document (HTML): that counts as unsupported.
    """
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code in UNSUPPORTED_CODES:
        return True
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = str(error.get("Message", "")).lstrip()
    return status in (500, 501) and code in ("500", "501") and message.startswith("<")


def redrive(
    topology: Topology,
    sqs: SQSClient,
    repo: Repository,
    *,
    lanes: Iterable[Lane] | None = None,
    ids: Iterable[str] | None = None,
    dry_run: bool = False,
    use_move_task: bool = True,
    max_messages: int = 1000,
    now: datetime | None = None,
) -> RedriveReport:
    """Send failed jobs back to their lane: each record `failed -> pending` (attempt history
    kept, `redrives` + 1) BEFORE its message goes back, so the analysis never meets a message
    whose record is still failed.

    - ids=None: every dead letter of the lanes whose record is failed. With `use_move_task`,
      StartMessageMoveTask moves them when every message of the DLQ is one of those (the task
      moves the whole queue); an endpoint without it (an emulator) falls back to
      receive-send-delete, as do DLQs holding other messages.
    - ids given: only those records (receive-send-delete). A failed record whose dead letter
      is gone (DLQ retention, `clean`) gets a new message.
    - dry_run: reports what would be redriven; changes nothing.
    A record left `processing` by a dead last attempt (`stranded`) is made `failed` first; a
    `pending` record whose dead letter is there is sent back only when named in `ids`.
    Dead letters whose record is not failed (or missing, or unreadable) stay where they are and
    are reported as skipped; `clean` removes those of completed or missing records.
    If a message cannot be sent back, its record is made `failed` again (reason restored).
    """
    now = now or utcnow()
    wanted = None if ids is None else set(ids)
    report = RedriveReport(dry_run=dry_run, lanes=[], items=[])
    for queues in topology.selected(lanes):
        _redrive_lane(
            queues,
            sqs,
            repo,
            report,
            wanted=wanted,
            dry_run=dry_run,
            use_move_task=use_move_task,
            max_messages=max_messages,
            now=now,
        )
    if wanted:
        seen = {i.id for i in report.items}
        for job_id in sorted(wanted - seen):
            _redrive_without_dead_letter(topology, sqs, repo, report, job_id, dry_run, now)
    return report


def _redrive_lane(
    queues: LaneQueues,
    sqs: SQSClient,
    repo: Repository,
    report: RedriveReport,
    *,
    wanted: set[str] | None,
    dry_run: bool,
    use_move_task: bool,
    max_messages: int,
    now: datetime,
) -> None:
    lane = queues.lane
    held = _hold_all(sqs, queues.dlq_url, limit=max_messages)
    candidates: dict[str, tuple[_Held, PreDiagnosis]] = {}
    for h in held:
        item = RedriveItem(lane=lane, id=h.job_id, message_id=h.message_id, action="skipped")
        if h.job_id is None:
            item.reason = "the message body is not a job"
        elif wanted is not None and h.job_id not in wanted:
            continue
        elif h.job_id in candidates:
            item.reason = "another dead letter of the same record is redriven"
        else:
            record = repo.get(h.job_id)
            if record is None:
                item.reason = "no such record"
            elif record.status is Status.FAILED or stranded(record, now):
                candidates[h.job_id] = (h, record)
                continue
            elif wanted is not None and record.status is Status.PENDING:
                # named by the operator: a pending record whose dead letter is all that is left
                # (an interrupted redrive, or duplicate deliveries that used up its receives)
                candidates[h.job_id] = (h, record)
                continue
            else:
                item.reason = f"the record is {record.status.value}"
        report.items.append(item)

    if dry_run or not candidates:
        _release(sqs, queues.dlq_url, held)
        report.items += [
            RedriveItem(lane=lane, id=i, message_id=h.message_id, action="would_redrive")
            for i, (h, _) in candidates.items()
        ]
        report.lanes.append(LaneRedrive(lane=lane, method="none"))
        return

    reopened: dict[str, tuple[_Held, PreDiagnosis]] = {}
    for job_id, (h, record) in candidates.items():
        if record.status is Status.PENDING:
            reopened[job_id] = (h, record)
            continue
        try:
            if record.status is Status.PROCESSING:
                record = repo.fail(record, STRANDED_REASON, now)
            repo.reopen(job_id, now)
        except (ConflictError, NotFoundError) as exc:
            report.items.append(
                RedriveItem(
                    lane=lane, id=job_id, message_id=h.message_id, action="skipped", reason=str(exc)
                )
            )
            continue
        reopened[job_id] = (h, record)

    note: str | None = None
    # The task moves every message of the queue: use it only when every one was examined and
    # is a redriven record's (what is skipped must stay in the dead-letter queue).
    whole_queue = len(held) < max_messages and len(reopened) == len(held)
    if wanted is None and use_move_task and reopened and whole_queue:
        _release(sqs, queues.dlq_url, held)
        try:
            task = sqs.start_message_move_task(
                SourceArn=queue_arn(sqs, queues.dlq_url),
                DestinationArn=queue_arn(sqs, queues.queue_url),
            )
        except ClientError as exc:
            if not move_task_unsupported(exc):
                _restore_failed(repo, reopened.values(), f"redrive failed: {exc}")
                raise OpsError(f"could not start the {lane.value} redrive: {exc}") from exc
            note = "StartMessageMoveTask is not supported by this endpoint"
        else:
            report.lanes.append(
                LaneRedrive(lane=lane, method="move_task", task_handle=task.get("TaskHandle"))
            )
            report.items += [
                RedriveItem(lane=lane, id=i, message_id=h.message_id, action="redriven")
                for i, (h, _) in reopened.items()
            ]
            return
        # the messages were released for the task: take those of the reopened records again
        held = _hold_all(sqs, queues.dlq_url, limit=max_messages)
        retaken: dict[str, tuple[_Held, PreDiagnosis]] = {}
        for h in held:
            if h.job_id in reopened and h.job_id not in retaken:
                retaken[h.job_id] = (h, reopened[h.job_id][1])
        lost = [v for k, v in reopened.items() if k not in retaken]
        _restore_failed(repo, lost, None)
        report.items += [
            RedriveItem(
                lane=lane,
                id=record.id,
                message_id=h.message_id,
                action="error",
                reason="its dead letter could not be taken again; the record is failed again",
            )
            for h, record in lost
        ]
        reopened = retaken

    moved: list[_Held] = []
    for job_id, (h, record) in reopened.items():
        try:
            sqs.send_message(
                QueueUrl=queues.queue_url,
                MessageBody=h.body,
                MessageAttributes={"lane": {"DataType": "String", "StringValue": lane.value}},
            )
        except (ClientError, BotoCoreError) as exc:
            _restore_failed(repo, [(h, record)], None)
            report.items.append(
                RedriveItem(
                    lane=lane, id=job_id, message_id=h.message_id, action="error", reason=str(exc)
                )
            )
            continue
        moved.append(h)
        report.items.append(
            RedriveItem(lane=lane, id=job_id, message_id=h.message_id, action="redriven")
        )
    _delete(sqs, queues.dlq_url, moved)
    moved_ids = {h.message_id for h in moved}
    _release(sqs, queues.dlq_url, [h for h in held if h.message_id not in moved_ids])
    report.lanes.append(LaneRedrive(lane=lane, method="receive_send_delete", note=note))


def _redrive_without_dead_letter(
    topology: Topology,
    sqs: SQSClient,
    repo: Repository,
    report: RedriveReport,
    job_id: str,
    dry_run: bool,
    now: datetime,
) -> None:
    """A selected failed record with no dead letter left: reopen it and queue a new message."""
    record = repo.get(job_id)
    if record is None or record.status is not Status.FAILED:
        state = "no such record" if record is None else f"the record is {record.status.value}"
        lane = Lane.NORMAL if record is None else record.lane
        reason = f"{state}; no dead letter found"
        report.items.append(RedriveItem(lane=lane, id=job_id, action="skipped", reason=reason))
        return
    if dry_run:
        reason = "no dead letter left: a new message would be sent"
        report.items.append(
            RedriveItem(lane=record.lane, id=job_id, action="would_redrive", reason=reason)
        )
        return
    repo.reopen(job_id, now)
    message = QueueMessage(pre_diagnosis_id=job_id, user_id=record.user_id, pet_id=record.pet_id)
    try:
        sqs.send_message(
            QueueUrl=topology.lane(record.lane).queue_url,
            MessageBody=message.model_dump_json(by_alias=True),
            MessageAttributes={"lane": {"DataType": "String", "StringValue": record.lane.value}},
        )
    except (ClientError, BotoCoreError) as exc:
        _restore_failed(repo, [(None, record)], None)
        report.items.append(
            RedriveItem(lane=record.lane, id=job_id, action="error", reason=str(exc))
        )
        return
    reason = "no dead letter left: a new message was sent"
    report.items.append(RedriveItem(lane=record.lane, id=job_id, action="redriven", reason=reason))


def _restore_failed(
    repo: Repository, entries: Iterable[tuple[Any, PreDiagnosis]], reason: str | None
) -> None:
    """pending -> failed again for reopened records whose message could not go back."""
    for _, record in entries:
        with contextlib.suppress(ConflictError, NotFoundError):
            repo.reject_unqueued(record.id, reason or record.failure_reason or "failed", utcnow())


# ---------------------------------------------------------------------- pause / resume
class EventSourceMapping(Contract):
    id: str = Field(description="UUID on AWS; the mapping's name on the local stack")
    function_name: str
    source_arn: str
    state: str = Field(description="Enabled, Disabled, Enabling, Disabling, Updating...")
    lane: Lane | None = None


class EsmControl(Protocol):
    """Port: the event source mappings that feed a function."""

    def mappings(self, function_name: str) -> list[EventSourceMapping]: ...
    def set_enabled(self, mapping_id: str, enabled: bool) -> EventSourceMapping: ...


class AwsEsmControl:
    """Lambda's own event source mappings (ListEventSourceMappings, UpdateEventSourceMapping)."""

    def __init__(self, client: LambdaClient) -> None:
        self.client = client

    @staticmethod
    def _mapping(raw: Mapping[str, Any], function_name: str | None = None) -> EventSourceMapping:
        arn = str(raw.get("FunctionArn", ""))
        return EventSourceMapping(
            id=str(raw["UUID"]),
            function_name=function_name or arn.rsplit(":", 1)[-1],
            source_arn=str(raw.get("EventSourceArn", "")),
            state=str(raw.get("State", "")),
        )

    def mappings(self, function_name: str) -> list[EventSourceMapping]:
        found: list[EventSourceMapping] = []
        kwargs: dict[str, Any] = {"FunctionName": function_name}
        while True:
            res = self.client.list_event_source_mappings(**kwargs)
            found += [self._mapping(m, function_name) for m in res.get("EventSourceMappings", [])]
            marker = res.get("NextMarker")
            if not marker:
                return found
            kwargs["Marker"] = marker

    def set_enabled(self, mapping_id: str, enabled: bool) -> EventSourceMapping:
        res = self.client.update_event_source_mapping(UUID=mapping_id, Enabled=enabled)
        return self._mapping(res)

    def get(self, mapping_id: str) -> EventSourceMapping:
        return self._mapping(self.client.get_event_source_mapping(UUID=mapping_id))


def set_analysis_enabled(
    control: EsmControl,
    topology: Topology,
    enabled: bool,
    *,
    lanes: Iterable[Lane] | None = None,
    wait_s: float = 0.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EventSourceMapping]:
    """Pause (False) or resume (True) the analysis of the given lanes (all by default) by
    disabling or enabling the analyze function's event source mappings on those queues.

    With `wait_s`, waits (up to that long) until every mapping has settled (Enabled/Disabled).
    A paused lane keeps its messages: nothing is received, nothing expires before the queue's
    retention (14 days).
    """
    function = topology.analyze_function_name
    if not function:
        raise OpsError("the analyze function name is unknown (ANALYZE_FUNCTION_NAME)")
    wanted = {q.lane for q in topology.selected(lanes)}
    chosen: list[EventSourceMapping] = []
    for mapping in control.mappings(function):
        lane = topology.lane_of_queue_arn(mapping.source_arn)
        if lane in wanted:
            chosen.append(mapping.model_copy(update={"lane": lane}))
    if not chosen:
        raise OpsError(f"{function} has no event source mapping on the selected lanes")
    target = "Enabled" if enabled else "Disabled"
    done = [control.set_enabled(m.id, enabled).model_copy(update={"lane": m.lane}) for m in chosen]
    deadline = time.monotonic() + wait_s
    while wait_s > 0 and any(m.state != target for m in done) and time.monotonic() < deadline:
        sleep(poll_s)
        states = {m.id: m.state for m in control.mappings(function)}
        done = [m.model_copy(update={"state": states.get(m.id, m.state)}) for m in done]
    return done


def analysis_state(control: EsmControl, topology: Topology) -> list[EventSourceMapping]:
    """The analyze function's mappings on the lanes, with their state."""
    function = topology.analyze_function_name
    if not function:
        raise OpsError("the analyze function name is unknown (ANALYZE_FUNCTION_NAME)")
    found = []
    for mapping in control.mappings(function):
        lane = topology.lane_of_queue_arn(mapping.source_arn)
        if lane is not None:
            found.append(mapping.model_copy(update={"lane": lane}))
    return found


# ---------------------------------------------------------------------- cleanup
class CleanReport(Contract):
    """What `clean` removed (or, dry run, would remove). Pre-diagnosis records are never
    touched: they are medical data and stay until deleted deliberately."""

    dry_run: bool
    expired_idempotency_records: int = Field(
        description="Idempotency records past their TTL that DynamoDB had not deleted yet"
    )
    stale_dead_letters: list[RedriveItem] = Field(
        description="Dead letters whose record is not failed (already redriven, completed) or"
        " does not exist, or whose body is not a job"
    )
    old_dead_letters: list[RedriveItem] = Field(
        default_factory=list,
        description="Dead letters of failed records older than the cutoff (records stay failed)",
    )
    notify_failures: int | None = Field(
        default=None,
        description="Messages in the notify-failures queue (reported, never removed by clean)",
    )


def purge_expired_idempotency(
    table_name: str, dynamodb: DynamoDBClient, *, now: datetime, dry_run: bool
) -> int:
    """Delete idempotency records whose `expiration` (epoch seconds) has passed.

    DynamoDB's TTL deletes them too, within days; Powertools already ignores expired ones.
    Each delete is conditional on the record still being expired.
    """
    cutoff = int(now.timestamp())
    names = {"#id": "id", "#exp": "expiration"}
    values = {":now": {"N": str(cutoff)}}
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "#exp < :now",
        "ProjectionExpression": "#id, #exp",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    removed = 0
    while True:
        res = dynamodb.scan(**kwargs)
        for item in res.get("Items", []):
            if not dry_run:
                try:
                    dynamodb.delete_item(
                        TableName=table_name,
                        Key={"id": item["id"]},
                        ConditionExpression="#exp < :now",
                        ExpressionAttributeNames={"#exp": "expiration"},
                        ExpressionAttributeValues=values,
                    )
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != (
                        "ConditionalCheckFailedException"
                    ):
                        raise
                    continue
            removed += 1
        last = res.get("LastEvaluatedKey")
        if not last:
            return removed
        kwargs["ExclusiveStartKey"] = last


def clean(
    topology: Topology,
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    repo: Repository,
    *,
    dry_run: bool = False,
    dead_letters_older_than: timedelta | None = None,
    max_messages: int = 1000,
    now: datetime | None = None,
) -> CleanReport:
    """The manual clean of the old worker's `queue.clean(...)`, for this system:

    - expired idempotency records (the 24 h "job done" markers of analyze, the 7-day
      notification markers of notify) that DynamoDB's TTL has not removed yet;
    - dead letters that no longer stand for a job to retry (their record was redriven and
      completed, or does not exist, or the body is not a job); dead letters of pending or
      processing records are kept (a stranded job, see `stranded`);
    - with `dead_letters_older_than`, dead letters of failed records sent before that age
      (the DLQ retention, 7 days by default, does the same on its own). Their records stay
      `failed` and can still be redriven by id: a new message is sent then.
    Nothing else: pre-diagnosis records never expire, and the notify-failures queue (records
    of notifications that could not be delivered) is only counted, for a person to act on.
    """
    now = now or utcnow()
    expired = 0
    if topology.idempotency_table_name:
        expired = purge_expired_idempotency(
            topology.idempotency_table_name, dynamodb, now=now, dry_run=dry_run
        )
    report = CleanReport(
        dry_run=dry_run, expired_idempotency_records=expired, stale_dead_letters=[]
    )
    cutoff = now - dead_letters_older_than if dead_letters_older_than is not None else None
    for queues in topology.lanes:
        held = _hold_all(sqs, queues.dlq_url, limit=max_messages)
        remove: list[_Held] = []
        statuses: dict[str, Status | None] = {}
        for h in held:
            item = RedriveItem(
                lane=queues.lane, id=h.job_id, message_id=h.message_id, action="skipped"
            )
            if h.job_id is None:
                item.reason = "the message body is not a job"
            else:
                if h.job_id not in statuses:
                    record = repo.get(h.job_id)
                    statuses[h.job_id] = None if record is None else record.status
                status = statuses[h.job_id]
                if status in (Status.PENDING, Status.PROCESSING):
                    continue  # possibly a stranded job: redrive decides, clean keeps it
                if status is Status.FAILED:
                    if cutoff is not None and h.sent_at is not None and h.sent_at < cutoff:
                        item.reason = f"dead letter older than {dead_letters_older_than}"
                        report.old_dead_letters.append(item)
                        remove.append(h)
                    continue
                item.reason = (
                    "no such record" if status is None else f"the record is {status.value}"
                )
            report.stale_dead_letters.append(item)
            remove.append(h)
        if dry_run:
            _release(sqs, queues.dlq_url, held)
            continue
        _delete(sqs, queues.dlq_url, remove)
        removed = {h.message_id for h in remove}
        _release(sqs, queues.dlq_url, [h for h in held if h.message_id not in removed])
    if topology.notify_failure_queue_url:
        attrs = _attributes(sqs, topology.notify_failure_queue_url)
        report.notify_failures = attrs.get("ApproximateNumberOfMessages", 0) + attrs.get(
            "ApproximateNumberOfMessagesNotVisible", 0
        )
    return report
