"""The dead-letter queues, kept to exactly one letter per failed record.

A letter stands for a job a person must look at when its record is `failed` at the letter's
dispatch (or is left `processing`/`pending` by a function that died: stranded), and it is the
first such letter of that record. Every other letter is stale: its record was redriven since,
finished, refused or never existed, or another letter already stands for it. `sweep` removes
the stale letters of the lanes, under the lane's lease, so that concurrent sweeps never hide
letters from each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import Field

from prediag.models import Contract, Lane, PreDiagnosis, Status
from prediag.ops.topology import Adapters, OpsError
from prediag.queue import LaneQueues, Letter

HOLD_SECONDS = 60
"""How long a sweep hides the letters it examines (its lease on the lane lasts as long)."""
LEASE_WAIT_SECONDS = 5.0
"""Within the API's timeout: a sweep waits this long for another to finish, then gives up."""

LetterAction = Literal["kept", "removed", "would_remove"]


class LetterItem(Contract):
    lane: Lane
    id: str | None = Field(default=None, description="Pre-diagnosis id (None: not a job)")
    message_id: str
    action: LetterAction
    reason: str


def stale_reason(
    letter: Letter, record: PreDiagnosis | None, seen: set[str], older_than: datetime | None
) -> str | None:
    """Why `letter` no longer stands for a job to look at; None when it does."""
    job = letter.job
    if job is None:
        return None  # not a job: a person must read it
    if record is None:
        return "no such record"
    if job.dispatch != record.redrives:
        return "the record was redriven since"
    if record.status in (Status.COMPLETED, Status.REFUSED):
        return f"the record is {record.status.value}"
    if record.id in seen:
        return "another letter stands for the same record"
    if older_than is not None and letter.sent_at is not None and letter.sent_at < older_than:
        return f"sent before {older_than.isoformat()}"
    return None


def sweep(
    adapters: Adapters,
    lanes: Iterable[LaneQueues],
    *,
    dry_run: bool = False,
    older_than: datetime | None = None,
    limit: int = 1000,
) -> list[LetterItem]:
    """Remove the stale letters of `lanes` (all kept when `dry_run`); what each letter was."""
    if adapters.lock is None:
        raise OpsError("the idempotency table (IDEMPOTENCY_TABLE_NAME) holds the lanes' leases")
    items: list[LetterItem] = []
    for queues in lanes:
        if not queues.dlq_url:
            continue
        with adapters.lock.hold(
            f"dlq#{queues.lane.value}", lease_seconds=HOLD_SECONDS, wait_seconds=LEASE_WAIT_SECONDS
        ):
            items += _sweep_lane(adapters, queues, queues.dlq_url, dry_run, older_than, limit)
    return items


def _sweep_lane(
    adapters: Adapters,
    queues: LaneQueues,
    dlq_url: str,
    dry_run: bool,
    older_than: datetime | None,
    limit: int,
) -> list[LetterItem]:
    letters = adapters.queue.take(dlq_url, limit=limit, hold_seconds=HOLD_SECONDS)
    ids = [letter.job.pre_diagnosis_id for letter in letters if letter.job is not None]
    records = {r.id: r for r in adapters.repo.get_many(ids)}
    seen: set[str] = set()
    stale: list[Letter] = []
    items: list[LetterItem] = []
    for letter in letters:
        record_id = letter.job.pre_diagnosis_id if letter.job else None
        reason = stale_reason(letter, records.get(record_id or ""), seen, older_than)
        if reason is None:
            if record_id:
                seen.add(record_id)
            kept_reason = "a failed record's job" if record_id else "the body is not a job"
            items.append(_item(queues.lane, letter, "kept", kept_reason))
            continue
        stale.append(letter)
        items.append(_item(queues.lane, letter, "would_remove" if dry_run else "removed", reason))
    if not dry_run:
        adapters.queue.delete(dlq_url, stale)
    removed = set() if dry_run else {letter.message_id for letter in stale}
    adapters.queue.release(dlq_url, [m for m in letters if m.message_id not in removed])
    return items


def _item(lane: Lane, letter: Letter, action: LetterAction, reason: str) -> LetterItem:
    record_id = letter.job.pre_diagnosis_id if letter.job else None
    return LetterItem(
        lane=lane, id=record_id, message_id=letter.message_id, action=action, reason=reason
    )
