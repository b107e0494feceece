"""Redrive: send failed pre-diagnoses back for analysis, from their records.

For each record: one conditional write `failed -> pending` (redrives + 1) is the lock. Of any
number of concurrent redrives of one record exactly one wins; it sends one new job, and the
others report the record as already pending. Then the lanes are swept: the old dead letters,
obsolete since the redrive, are deleted. A record can be reopened only once its dead letter is
in the dead-letter queue (`deadLettered`), so the sweep always finds the letter it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from prediag.analysis import STRANDED_REASON, JobPolicy
from prediag.errors import ConflictError
from prediag.locks import LockBusy
from prediag.models import Contract, Lane, PreDiagnosis, Status, utcnow
from prediag.ops.deadletters import LetterItem, sweep
from prediag.ops.topology import Adapters
from prediag.submission import job_of

RedriveAction = Literal["redriven", "would_redrive", "skipped", "error"]


class RedriveItem(Contract):
    id: str
    lane: Lane | None = None
    action: RedriveAction
    reason: str | None = None


class RedriveReport(Contract):
    dry_run: bool
    items: list[RedriveItem]
    letters: list[LetterItem] = Field(
        default_factory=list, description="What the sweep of the dead-letter queues did"
    )
    sweep_deferred: str | None = Field(
        default=None,
        description="Why the dead-letter queues were not swept (another operation held them);"
        " the next redrive or `clean` removes the obsolete letters",
    )

    @property
    def redriven(self) -> list[str]:
        return [i.id for i in self.items if i.action == "redriven"]

    @property
    def would_redrive(self) -> list[str]:
        return [i.id for i in self.items if i.action == "would_redrive"]


def stranded(record: PreDiagnosis, policy: JobPolicy, now: datetime) -> bool:
    """A record left `processing` by an attempt that died, with no delivery left to end it."""
    started = record.attempt_started_ms
    stale = int(policy.stale_before(now).timestamp() * 1000)
    return record.status is Status.PROCESSING and started is not None and started < stale


def redrive(
    adapters: Adapters,
    *,
    ids: Iterable[str] | None = None,
    lanes: Iterable[Lane] | None = None,
    dry_run: bool = False,
    policy: JobPolicy | None = None,
    limit: int = 1000,
    now: datetime | None = None,
) -> RedriveReport:
    """Redrive the named records, or every failed record of the lanes (up to `limit`).

    A record left `processing` by an attempt that died is made `failed` first (a stranded job).
    `dry_run` reports what would be redriven and changes nothing.
    """
    now = now or utcnow()
    policy = policy or JobPolicy()
    selected = adapters.topology.selected(lanes)
    wanted_lanes = {q.lane for q in selected}
    if ids is None:
        found, _ = adapters.repo.ids(Status.FAILED, limit=limit)
        records = [r for r in adapters.repo.get_many(found) if r.lane in wanted_lanes]
        named: list[str] = [r.id for r in records]
    else:
        named = list(dict.fromkeys(ids))
        records = adapters.repo.get_many(named)
    by_id = {r.id: r for r in records}
    lost: set[str] = set()
    if ids is not None:
        lost = _lost_pending(adapters, [r for r in records if r.status is Status.PENDING])
    items = [
        _redrive_one(adapters, i, by_id.get(i), i in lost, dry_run, policy, now) for i in named
    ]
    report = RedriveReport(dry_run=dry_run, items=items)
    touched = {i.lane for i in items if i.action == "redriven"}
    if touched:
        try:
            report.letters = sweep(
                adapters, [q for q in adapters.topology.lanes if q.lane in touched]
            )
        except LockBusy as exc:  # the redrives stand; the next sweep removes their old letters
            report.sweep_deferred = str(exc)
    return report


def _lost_pending(adapters: Adapters, pending: list[PreDiagnosis]) -> set[str]:
    """The ids of the pending records whose current job is a letter in a dead-letter queue
    (its deliveries ran out in a crash): nothing will analyse them unless a new job is sent."""
    if not pending:
        return set()
    lanes = [q for q in adapters.topology.lanes if q.lane in {r.lane for r in pending}]
    kept = {i.id for i in sweep(adapters, lanes, dry_run=True) if i.action == "kept"}
    return {r.id for r in pending if r.id in kept}


LOST_REASON = "pending, and its only job is in the dead-letter queue"


def _redrive_one(
    adapters: Adapters,
    record_id: str,
    record: PreDiagnosis | None,
    job_lost: bool,
    dry_run: bool,
    policy: JobPolicy,
    now: datetime,
) -> RedriveItem:
    if record is None:
        return RedriveItem(id=record_id, action="skipped", reason="no such record")
    item = RedriveItem(id=record_id, lane=record.lane, action="skipped")
    reason: str | None = None
    if stranded(record, policy, now):
        if dry_run:
            return item.model_copy(update={"action": "would_redrive", "reason": STRANDED_REASON})
        try:
            record = adapters.repo.fail_stranded(record, STRANDED_REASON, now)
            record = adapters.repo.mark_dead_lettered(record.id, record.redrives)
        except ConflictError as conflict:
            return item.model_copy(update={"reason": _why_not(conflict.current)})
    if record.status is Status.PENDING and job_lost:
        reopen, reason = adapters.repo.redispatch, LOST_REASON
    elif record.status is Status.FAILED and record.dead_lettered:
        reopen = adapters.repo.reopen
    else:
        return item.model_copy(update={"reason": _why_not(record)})
    if dry_run:
        return item.model_copy(update={"action": "would_redrive", "reason": reason})
    try:
        again = reopen(record, now)
    except ConflictError as conflict:
        return item.model_copy(update={"reason": _why_not(conflict.current)})
    try:
        adapters.queue.send(again.lane, job_of(again))
    except (ClientError, BotoCoreError) as exc:
        adapters.repo.restore(record, utcnow())
        return item.model_copy(update={"action": "error", "reason": f"could not queue: {exc}"})
    return item.model_copy(update={"action": "redriven", "reason": reason})


def _why_not(record: PreDiagnosis | None) -> str:
    if record is None:
        return "no such record"
    if record.status is Status.PENDING:
        return "already pending (redriven by another call, or waiting for a retry)"
    if record.status is Status.REFUSED:
        return "refused at submission: it was never accepted, so there is nothing to redrive"
    if record.status is Status.FAILED:
        return "its job is on its way to the dead-letter queue; retry in a moment"
    return f"the record is {record.status.value}"
