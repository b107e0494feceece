"""The manual clean of the old worker's `queue.clean(...)`, for this system.

Idempotency markers expire on their own (DynamoDB TTL, and Powertools ignores expired ones);
pre-diagnosis records never expire (medical data). What is left to clean by hand:

- stale dead letters (see `deadletters`): the letters a redrive did not reach (a sweep that
  could not get its lease in time), or left by an older version;
- with an age, the dead letters of failed records sent before it (the DLQ retention, 7 days,
  does the same on its own). Their records stay `failed`, and can no longer be redriven until
  an operator looks at them (`deadLettered` stays set: a redrive sends a new job).
The notify-failures queue (notifications that could not be delivered) is only counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from prediag.models import Contract, utcnow
from prediag.ops.deadletters import LetterItem, sweep
from prediag.ops.topology import Adapters


class CleanReport(Contract):
    dry_run: bool
    letters: list[LetterItem]
    notify_failures: int | None = Field(
        default=None,
        description="Messages in the notify-failures queue (reported, never removed by clean)",
    )

    @property
    def removed(self) -> list[LetterItem]:
        return [i for i in self.letters if i.action != "kept"]


def clean(
    adapters: Adapters,
    *,
    dry_run: bool = False,
    dead_letters_older_than: timedelta | None = None,
    limit: int = 1000,
    now: datetime | None = None,
) -> CleanReport:
    now = now or utcnow()
    cutoff = now - dead_letters_older_than if dead_letters_older_than is not None else None
    letters = sweep(
        adapters, adapters.topology.lanes, dry_run=dry_run, older_than=cutoff, limit=limit
    )
    report = CleanReport(dry_run=dry_run, letters=letters)
    url = adapters.topology.notify_failure_queue_url
    if url:
        counts = adapters.queue.counts(url)
        report.notify_failures = counts.get("ApproximateNumberOfMessages", 0) + counts.get(
            "ApproximateNumberOfMessagesNotVisible", 0
        )
    return report
