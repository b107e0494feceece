"""Listing and reading jobs, for operators (the admin routes, the console and the CLI).

A job is a pre-diagnosis record seen from the pipeline: its status, lane, attempts and why it
failed. `list_jobs` pages through them newest first, filtered by status, lane, clinic and
creation date:

- a clinic: one partition of the byClinic index (whole records); status and lane are filters;
- a status: one partition of the byStatus index (keys only), then BatchGetItem; lane is a filter;
- neither: the five status partitions of byStatus, merged newest first. No index holds every
  record under one key (such an index would put the whole table's writes on one partition);
  merging costs one small keys-only query per status and page.

The cursor is one position in time, `createdAt` and the ids already given at that instant, so
it stays right when a record moves from one status partition to another between two pages. It
holds the filters it was made for, and a cursor sent with other filters is refused. A page may
hold fewer than `limit` jobs while `nextCursor` is set: filtering by lane reads at most a few
times `limit` records per page.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, TypeAdapter

from prediag.errors import InvalidRequestError, NotFoundError
from prediag.items import record_from_item
from prediag.models import (
    Contract,
    Lane,
    PreDiagnosis,
    SentNotification,
    Species,
    Status,
    Urgency,
)
from prediag.repository import DynamoRepository
from prediag.views import fields_of

MAX_LIMIT = 100
ROUNDS = 4
"""Reads of `limit` records one page makes at most to fill itself when a filter drops some."""
_STAMP = TypeAdapter(datetime)


class JobQuery(Contract):
    """What to list: every filter is optional."""

    status: Status | None = None
    lane: Lane | None = None
    clinic_id: str | None = None
    since: datetime | None = Field(default=None, description="Created at or after this instant")


class JobSummary(Contract):
    """One line of the jobs table: what an operator needs to pick a job, never the owner's words."""

    id: str
    created_at: datetime
    updated_at: datetime
    status: Status
    lane: Lane
    urgency: Urgency
    clinic_id: str
    species: Species
    attempts: int = Field(description="Attempts made, all redrives included")
    redrives: int
    dead_lettered: bool
    last_error: str | None = Field(
        default=None, description="The failure reason, or the last failed attempt's error"
    )

    @classmethod
    def of(cls, record: PreDiagnosis) -> JobSummary:
        failed = [a.error for a in record.attempts if a.outcome == "failed" and a.error]
        return cls(
            **fields_of(record, "redrives", "dead_lettered"),
            species=record.request.pet.species,
            attempts=len(record.attempts),
            last_error=record.failure_reason or (failed[-1] if failed else None),
        )


class JobPage(Contract):
    """Body of GET /admin/jobs: newest first; `nextCursor` fetches the next page."""

    items: list[JobSummary]
    next_cursor: str | None = Field(
        default=None,
        description="Opaque; null on the last page. Pass it back as `cursor` with the same "
        "filters. A page may hold fewer than `limit` jobs while it is set.",
    )


class JobDetail(PreDiagnosis):
    """Body of GET /admin/jobs/{id}: the whole record, and the notifications sent about it."""

    notifications: list[SentNotification] = Field(
        default_factory=list,
        description="Each message published to the vet about this record, oldest first",
    )

    @classmethod
    def of(cls, record: PreDiagnosis) -> JobDetail:
        fields = {name: getattr(record, name) for name in PreDiagnosis.model_fields}
        return cls.model_validate(fields)


def stamp(moment: datetime) -> str:
    """`moment` as the table stores `createdAt` (the index's sort key)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    text = _STAMP.dump_python(aware.astimezone(UTC), mode="json")
    return str(text)


# ---------------------------------------------------------------------- cursor
@dataclass
class Position:
    """Where a listing stands: the `createdAt` of its last job, and the ids given at it."""

    at: str
    ids: list[str] = field(default_factory=list)

    def advance(self, created_at: str, record_id: str) -> None:
        if created_at == self.at:
            self.ids.append(record_id)
        else:
            self.at, self.ids = created_at, [record_id]

    def passed(self, created_at: str, record_id: str) -> bool:
        return created_at > self.at or (created_at == self.at and record_id in self.ids)


def _fingerprint(query: JobQuery) -> dict[str, str]:
    return {k: str(v) for k, v in query.dump().items()}


def encode_cursor(position: Position, query: JobQuery) -> str:
    body = {"at": position.at, "ids": position.ids, "q": _fingerprint(query)}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, query: JobQuery) -> Position:
    """The position of `cursor`; InvalidRequestError if it is not one of this listing's."""
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        at, ids, made_for = body["at"], body["ids"], body["q"]
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InvalidRequestError("cursor", "cursor is not valid for this listing") from exc
    valid = (
        isinstance(at, str)
        and isinstance(ids, list)
        and all(isinstance(i, str) for i in ids)
        and len(ids) <= MAX_LIMIT * ROUNDS
    )
    if not valid or made_for != _fingerprint(query):
        raise InvalidRequestError("cursor", "cursor is not valid for this listing")
    return Position(at, list(ids))


# ---------------------------------------------------------------------- listing
def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["createdAt"]["S"], item["id"]["S"]


def _newest(
    repo: DynamoRepository,
    query: JobQuery,
    position: Position | None,
    want: int,
) -> tuple[list[tuple[str, PreDiagnosis]], bool]:
    """The next `want` records after `position` from the query's index partitions, newest
    first, each with its index sort key (status and lane not yet filtered); True when the
    partitions may hold more."""
    since = stamp(query.since) if query.since else None
    until = position.at if position else None
    skip = len(position.ids) if position else 0
    if query.clinic_id:
        partitions = [("byClinic", "clinicId", query.clinic_id)]
    elif query.status:
        partitions = [("byStatus", "status", query.status.value)]
    else:
        partitions = [("byStatus", "status", s.value) for s in Status]
    streams: list[list[dict[str, Any]]] = []
    more = False
    for index, key, value in partitions:
        items, partition_more = repo.window(
            index, key, value, until=until, since=since, limit=want + skip
        )
        fresh = [i for i in items if not (position and position.passed(*_key(i)))]
        streams.append(fresh)
        more = more or partition_more
    merged = list(heapq.merge(*streams, key=_key, reverse=True))
    taken = merged[:want]
    more = more or len(merged) > want
    if query.clinic_id:  # byClinic projects whole records
        return [(_key(i)[0], record_from_item(i)) for i in taken], more
    by_id = {r.id: r for r in repo.get_many([_key(i)[1] for i in taken])}
    # a record keeps its createdAt: order by the index's keys, whatever its status is now
    keys = [_key(i) for i in taken]
    return [(at, by_id[record_id]) for at, record_id in keys if record_id in by_id], more


def _matches(record: PreDiagnosis, query: JobQuery) -> bool:
    if query.status is not None and record.status is not query.status:
        return False
    return query.lane is None or record.lane is query.lane


def list_jobs(
    repo: DynamoRepository,
    query: JobQuery | None = None,
    *,
    limit: int = 20,
    cursor: str | None = None,
) -> JobPage:
    """A page of jobs, newest first (see the module's doc)."""
    query = query or JobQuery()
    limit = max(1, min(limit, MAX_LIMIT))
    position = decode_cursor(cursor, query) if cursor else None
    found: list[JobSummary] = []
    more = True
    for _ in range(ROUNDS):
        records, more = _newest(repo, query, position, limit - len(found))
        for at, record in records:
            position = position or Position(at)
            position.advance(at, record.id)
            if _matches(record, query):
                found.append(JobSummary.of(record))
        if not more or len(found) >= limit:
            break
    next_cursor = encode_cursor(position, query) if more and position else None
    return JobPage(items=found, next_cursor=next_cursor)


def list_by_status(
    repo: DynamoRepository, status: Status, *, limit: int = 20
) -> Sequence[PreDiagnosis]:
    """The newest records in `status`."""
    ids, _ = repo.ids(status, limit=limit)
    return repo.get_many(ids)


def read_job(repo: DynamoRepository, record_id: str) -> JobDetail:
    """The whole record and its notifications; NotFoundError when there is no such record."""
    record = repo.get(record_id)
    if record is None:
        raise NotFoundError(f"pre-diagnosis {record_id} not found")
    return JobDetail.of(record)
