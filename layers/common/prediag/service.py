"""Domain services: what each function does, free of Lambda event shapes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from prediag.errors import (
    AnalysisError,
    ConflictError,
    EnqueueError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from prediag.models import (
    Accepted,
    Analysis,
    Attempt,
    Lane,
    PreDiagnosis,
    PreDiagnosisRequest,
    QueueMessage,
    Status,
    TriageResult,
    Urgency,
    utcnow,
)
from prediag.notifier import Kind, Notifier, build_notification
from prediag.queue import JobQueue
from prediag.repository import RecordPage, Repository
from prediag.triage import triage

logger = Logger(child=True)
metrics = Metrics()

URGENT_LEVELS = frozenset({Urgency.IMMEDIATE, Urgency.VERY_URGENT})

Analyser = Callable[[PreDiagnosisRequest, TriageResult, int], Analysis]
"""(request, triage floor, remaining milliseconds) -> validated analysis."""


@dataclass(frozen=True)
class Caller:
    """Who is calling the API, from the Cognito claims the authorizer passed on."""

    user_id: str
    groups: frozenset[str] = field(default_factory=frozenset)
    clinic_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admins" in self.groups

    @property
    def is_vet(self) -> bool:
        return "vets" in self.groups and bool(self.clinic_id)

    def can_read(self, record: PreDiagnosis) -> bool:
        if self.is_admin or record.user_id == self.user_id:
            return True
        return self.is_vet and record.clinic_id == self.clinic_id


# ---------------------------------------------------------------------- submit
def route(request: PreDiagnosisRequest, level: Urgency) -> Lane:
    """An explicit priority wins; otherwise immediate and very urgent cases take the urgent lane."""
    if request.priority is not None:
        return request.priority
    return Lane.URGENT if level in URGENT_LEVELS else Lane.NORMAL


def submit(
    request: PreDiagnosisRequest,
    caller: Caller,
    repo: Repository,
    queue: JobQueue,
    *,
    now: datetime | None = None,
    record_id: str | None = None,
) -> Accepted:
    """Store the case `pending` and hand it to its lane. EnqueueError if the queue refused it."""
    now = now or utcnow()
    result = triage(request)
    lane = route(request, result.level)
    record = PreDiagnosis(
        id=record_id or str(uuid.uuid4()),
        user_id=caller.user_id,
        pet_id=request.pet.id,
        clinic_id=request.clinic_id,
        vet_id=request.vet_id,
        status=Status.PENDING,
        lane=lane,
        urgency=result.level,
        request=request,
        triage=result,
        created_at=now,
        updated_at=now,
    )
    repo.create(record)
    message = QueueMessage(pre_diagnosis_id=record.id, user_id=caller.user_id, pet_id=record.pet_id)
    try:
        queue.send(lane, message)
    except Exception as exc:
        logger.exception("Could not enqueue job %s", record.id, extra={"job_id": record.id})
        repo.reject_unqueued(record.id, "could not be queued; the submission was refused", utcnow())
        raise EnqueueError("the analysis queue is unavailable; please retry") from exc
    logger.info(
        "Accepted job %s",
        record.id,
        extra={"job_id": record.id, "lane": lane.value, "triage_level": result.level.value},
    )
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    return Accepted(id=record.id, status=record.status, urgency=record.urgency, lane=lane)


def read(record_id: str, caller: Caller, repo: Repository) -> PreDiagnosis:
    """The record, if the caller may see it; NotFoundError otherwise (no existence leak)."""
    record = repo.get(record_id)
    if record is None or not caller.can_read(record):
        raise NotFoundError(f"pre-diagnosis {record_id} not found")
    return record


@dataclass(frozen=True)
class Listing:
    """Which records a listing reads: one partition of one index."""

    index: str
    key: str
    value: str


def listing_for(caller: Caller, *, clinic_id: str | None, user_id: str | None) -> Listing:
    """What `caller` may list. An owner lists their own records, a vet their clinic's; an admin
    names exactly one clinic or owner. ForbiddenError for a filter the caller may not use."""
    if caller.is_admin:
        if bool(clinic_id) == bool(user_id):
            raise InvalidRequestError(
                "clinicId" if clinic_id else "userId",
                "admins list by exactly one of clinicId or userId",
            )
        if clinic_id:
            return Listing("byClinic", "clinicId", clinic_id)
        return Listing("byUser", "userId", str(user_id))
    if caller.is_vet:
        if user_id or (clinic_id and clinic_id != caller.clinic_id):
            raise ForbiddenError("a vet lists the records of their own clinic only")
        return Listing("byClinic", "clinicId", str(caller.clinic_id))
    if clinic_id or (user_id and user_id != caller.user_id):
        raise ForbiddenError("an owner lists their own records only")
    return Listing("byUser", "userId", caller.user_id)


def list_records(
    caller: Caller,
    repo: Repository,
    *,
    limit: int = 20,
    cursor: str | None = None,
    clinic_id: str | None = None,
    user_id: str | None = None,
) -> RecordPage:
    """A page of the records `caller` may see, newest first."""
    scope = listing_for(caller, clinic_id=clinic_id, user_id=user_id)
    try:
        return repo.query(scope.index, scope.key, scope.value, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidRequestError("cursor", "cursor is not valid for this listing") from exc


# ---------------------------------------------------------------------- analyze
class RetryJob(Exception):
    """The attempt failed and will be retried after `delay_seconds`."""

    def __init__(self, job_id: str, reason: str, delay_seconds: int) -> None:
        super().__init__(f"job {job_id} will be retried in {delay_seconds}s: {reason}")
        self.delay_seconds = delay_seconds


class DeadLetter(Exception):
    """The job is `failed`: its message must move on to the dead-letter queue."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id} failed: {reason}")


@dataclass(frozen=True)
class JobPolicy:
    max_attempts: int = 3
    backoff_base_seconds: int = 2

    def backoff(self, attempt: int) -> int:
        return int(self.backoff_base_seconds * 2 ** (attempt - 1))


def run_job(
    message: QueueMessage,
    attempt_number: int,
    *,
    repo: Repository,
    analyse: Analyser,
    remaining_ms: Callable[[], int],
    policy: JobPolicy,
) -> PreDiagnosis | None:
    """Analyse one job. Returns the finished record, or None when there was nothing to do.

    Raises RetryJob when the queue should deliver it again after a backoff, and DeadLetter when
    the record is `failed` and the message belongs in the dead-letter queue.
    """
    job_id = message.pre_diagnosis_id
    log = {"job_id": job_id, "attempt": attempt_number, "max_attempts": policy.max_attempts}
    if attempt_number > policy.max_attempts:
        _after_last_attempt(job_id, repo, log)
        return None
    try:
        record = repo.start_attempt(job_id, Attempt(number=attempt_number, started_at=utcnow()))
    except NotFoundError:
        logger.error("Job %s has no record; message dropped", job_id, extra=log)
        metrics.add_metric(name="OrphanMessages", unit=MetricUnit.Count, value=1)
        return None
    except ConflictError:
        current = repo.get(job_id)
        if current is not None and current.status is Status.FAILED:
            logger.info("Job %s is failed; passing its message on to the DLQ", job_id, extra=log)
            raise DeadLetter(job_id, current.failure_reason or "failed") from None
        logger.info("Job %s is already finished; duplicate delivery ignored", job_id, extra=log)
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return None

    logger.info(
        "Starting job %s (attempt %d/%d)", job_id, attempt_number, policy.max_attempts, extra=log
    )
    try:
        analysis = analyse(record.request, record.triage, remaining_ms())
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        permanent = isinstance(exc, AnalysisError) and not exc.retryable
        logger.warning("Job %s failed: %s", job_id, reason, extra={**log, "permanent": permanent})
        if permanent or attempt_number >= policy.max_attempts:
            repo.fail(record, reason, utcnow())
            metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
            raise DeadLetter(job_id, reason) from exc
        repo.retry_later(record, reason, utcnow())
        metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
        raise RetryJob(job_id, reason, policy.backoff(attempt_number)) from exc

    try:
        done = repo.complete(record, analysis, utcnow())
    except ConflictError:
        logger.info("Job %s was finished by another delivery", job_id, extra=log)
        return None
    logger.info(
        "Successfully completed job %s",
        job_id,
        extra={**log, "urgency": analysis.urgency.value, "degraded": analysis.degraded},
    )
    metrics.add_metric(name="Completed", unit=MetricUnit.Count, value=1)
    return done


def _after_last_attempt(job_id: str, repo: Repository, log: dict[str, Any]) -> None:
    """The delivery after the last attempt (the queues deliver once more than the attempts):
    no analysis. A record the last attempt left `processing` (it crashed or timed out) is made
    `failed`, so the vet is told; then the message moves on to the dead-letter queue."""
    record = repo.get(job_id)
    if record is None:
        logger.error("Job %s has no record; message dropped", job_id, extra=log)
        return
    if record.status is Status.COMPLETED:
        logger.info("Job %s is already finished; duplicate delivery ignored", job_id, extra=log)
        return
    reason = record.failure_reason or "failed"
    if record.status is Status.PROCESSING:
        reason = "the last attempt did not finish (crash or timeout)"
        logger.warning("Job %s failed: %s", job_id, reason, extra=log)
        repo.fail(record, reason, utcnow())
        metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    elif record.status is Status.PENDING:
        reason = "no attempt left"
        logger.error("Job %s is pending with no attempt left", job_id, extra=log)
    raise DeadLetter(job_id, reason)


# ---------------------------------------------------------------------- notify
def notify(record: PreDiagnosis, kind: Kind, notifier: Notifier, base_url: str | None) -> str:
    note = build_notification(record, kind, base_url)
    message_id = notifier.publish(note)
    logger.info(
        "Notified the vet of job %s (%s)",
        record.id,
        kind,
        extra={"job_id": record.id, "kind": kind, "urgency": record.urgency.value},
    )
    metrics.add_metric(name="Notifications", unit=MetricUnit.Count, value=1)
    return message_id
