"""Queue statistics per lane, in the terms of the old Bull `getQueueStats` (each count is SQS's
own approximate attribute, read once):

- waiting:  ApproximateNumberOfMessages - visible jobs, ready for the analysis.
- delayed:  ApproximateNumberOfMessagesDelayed (jobs sent with a delay; the pipeline sends none)
            + `retrying`.
- retrying: records of the lane that are `pending` after a failed attempt whose backoff has not
            elapsed yet. Their jobs are hidden by ChangeMessageVisibility, so SQS counts them as
            not visible.
- active:   ApproximateNumberOfMessagesNotVisible - retrying (never below 0): jobs an analysis
            holds right now.
- dead:     jobs in the lane's dead-letter queue (visible + not visible).
- oldest:   seconds the lane's longest-waiting job has waited: now - the time its `pending`
            record became pending (submitted, redriven, or back from a failed attempt). SQS has
            no age attribute (ApproximateAgeOfOldestMessage is a CloudWatch metric), and peeking
            at a message would count as a delivery, which is an attempt here.
- analysis: the state of the analyze function's event source mapping on the lane (Enabled,
            Disabled...: paused or not), when `with_analysis_state` could read it.
Table-wide, from the byStatus index: pending, processing, completed, failed, refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from prediag.analysis import JobPolicy
from prediag.models import Contract, Lane, Status, utcnow
from prediag.ops.pause import EsmControl, analysis_state
from prediag.ops.topology import Adapters, OpsError, Topology


class LaneStats(Contract):
    lane: Lane
    waiting: int = Field(description="Visible jobs, ready for the analysis")
    active: int = Field(description="Jobs an analysis holds now (not visible - retrying)")
    delayed: int = Field(description="Jobs sent with a delay + retrying")
    retrying: int = Field(description="Pending records waiting out a retry backoff")
    dead: int = Field(description="Jobs in the lane's dead-letter queue")
    oldest_waiting_seconds: float | None = Field(
        default=None,
        description="How long the lane's longest-waiting pending job has waited (None: none)",
    )
    analysis: str | None = Field(
        default=None,
        description="The analysis trigger's state: Enabled, Disabled (paused), Enabling, "
        "Disabling...; None when it could not be read",
    )

    @property
    def paused(self) -> bool | None:
        return None if self.analysis is None else self.analysis != "Enabled"


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
    refused: int = Field(description="Submissions refused because their job could not be queued")
    retrying_exact: bool = Field(
        description="False when more pending records exist than were examined for backoffs "
        "and waiting times"
    )
    analysis_error: str | None = Field(
        default=None, description="Why the triggers' states could not be read, if they were not"
    )


def retrying_by_lane(
    adapters: Adapters, policy: JobPolicy, now: datetime, *, scan_limit: int = 1000
) -> tuple[dict[Lane, int], bool]:
    """Pending records whose last attempt failed and whose backoff has not elapsed, per lane.
    Examines at most `scan_limit` pending records (newest first); False when there were more."""
    retrying, _, exact = pending_by_lane(adapters, policy, now, scan_limit=scan_limit)
    return retrying, exact


def pending_by_lane(
    adapters: Adapters, policy: JobPolicy, now: datetime, *, scan_limit: int = 1000
) -> tuple[dict[Lane, int], dict[Lane, float], bool]:
    """Per lane: the pending records waiting out a retry backoff, and the seconds the
    longest-waiting pending record has waited. Examines at most `scan_limit` pending records
    (newest first); False when there were more."""
    ids, more = adapters.repo.ids(Status.PENDING, limit=scan_limit)
    counts: dict[Lane, int] = {}
    oldest: dict[Lane, float] = {}
    for record in adapters.repo.get_many(ids):
        waited = max(0.0, (now - record.updated_at).total_seconds())
        oldest[record.lane] = max(oldest.get(record.lane, 0.0), waited)
        last = record.attempts[-1] if record.attempts else None
        if last is None or last.outcome != "failed" or last.ended_at is None:
            continue
        if now < last.ended_at + timedelta(seconds=policy.backoff(last.number)):
            counts[record.lane] = counts.get(record.lane, 0) + 1
    return counts, oldest, not more


def queue_stats(
    adapters: Adapters,
    *,
    policy: JobPolicy | None = None,
    now: datetime | None = None,
    scan_limit: int = 1000,
) -> QueueStats:
    """Waiting, active, delayed, retrying and dead per lane; statuses from the table."""
    now = now or utcnow()
    statuses = {status: adapters.repo.count(status) for status in Status}
    retrying, oldest, exact = pending_by_lane(
        adapters, policy or JobPolicy(), now, scan_limit=scan_limit
    )
    lanes: list[LaneStats] = []
    for queues in adapters.topology.lanes:
        counts = adapters.queue.counts(queues.queue_url)
        dlq = adapters.queue.counts(queues.dlq_url) if queues.dlq_url else {}
        backing_off = retrying.get(queues.lane, 0)
        not_visible = counts.get("ApproximateNumberOfMessagesNotVisible", 0)
        lanes.append(
            LaneStats(
                lane=queues.lane,
                waiting=counts.get("ApproximateNumberOfMessages", 0),
                active=max(0, not_visible - backing_off),
                delayed=counts.get("ApproximateNumberOfMessagesDelayed", 0) + backing_off,
                retrying=backing_off,
                dead=dlq.get("ApproximateNumberOfMessages", 0)
                + dlq.get("ApproximateNumberOfMessagesNotVisible", 0),
                oldest_waiting_seconds=(
                    round(oldest[queues.lane], 1) if queues.lane in oldest else None
                ),
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
        refused=statuses[Status.REFUSED],
        retrying_exact=exact,
    )


def with_analysis_state(stats: QueueStats, control: EsmControl, topology: Topology) -> QueueStats:
    """`stats` with each lane's analysis trigger state (paused or not). When Lambda's API cannot
    be read, the states stay unknown and `analysis_error` says why: the counts still stand."""
    try:
        states = {m.lane: m.state for m in analysis_state(control, topology)}
    except (OpsError, ClientError, BotoCoreError) as exc:
        return stats.model_copy(update={"analysis_error": str(exc)[:300]})
    lanes = [lane.model_copy(update={"analysis": states.get(lane.lane)}) for lane in stats.lanes]
    missing = [lane.lane.value for lane in lanes if lane.analysis is None]
    error = (
        f"{topology.analyze_function_name} has no trigger on the lanes {', '.join(missing)}"
        if missing
        else None
    )
    return stats.model_copy(update={"lanes": lanes, "analysis_error": error})
