"""Use case: accept a case. Store it `pending`, then hand its job to its lane.

Before anything is stored, the case must name a registered, active clinic (else
UnknownClinicError: 422 on `clinicId`), and the caller must have a submission left in their
quota (else QuotaExceededError: 429, with when to retry). The quota is taken last, so a refused
request never uses it; it is given back when the submission fails after all.

A submission whose job cannot be queued is `refused` (the caller is answered 503 and will
retry): it was never accepted, so it is never analysed, listed as failed, redriven or notified.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from prediag.access import Caller
from prediag.clinics import ClinicDirectory, require_active
from prediag.errors import EnqueueError, QuotaExceededError, UnknownClinicError
from prediag.models import (
    Lane,
    PreDiagnosis,
    PreDiagnosisRequest,
    QueueMessage,
    Status,
    Urgency,
    utcnow,
)
from prediag.queue import JobQueue
from prediag.quota import SubmissionQuota
from prediag.repository import Repository
from prediag.triage import triage
from prediag.views import Accepted

logger = Logger(child=True)
metrics = Metrics()

URGENT_LEVELS = frozenset({Urgency.IMMEDIATE, Urgency.VERY_URGENT})
REFUSED_REASON = "its job could not be queued; the submission was refused (503)"


def route(request: PreDiagnosisRequest, level: Urgency) -> Lane:
    """An explicit priority wins; otherwise immediate and very urgent cases take the urgent lane."""
    if request.priority is not None:
        return request.priority
    return Lane.URGENT if level in URGENT_LEVELS else Lane.NORMAL


def job_of(record: PreDiagnosis) -> QueueMessage:
    """The job that points at `record` in its current dispatch."""
    return QueueMessage(
        pre_diagnosis_id=record.id,
        user_id=record.user_id,
        pet_id=record.pet_id,
        dispatch=record.redrives,
    )


def submit(
    request: PreDiagnosisRequest,
    caller: Caller,
    repo: Repository,
    queue: JobQueue,
    *,
    clinics: ClinicDirectory,
    quota: SubmissionQuota,
    now: datetime | None = None,
    record_id: str | None = None,
) -> Accepted:
    """Store the case `pending` and hand it to its lane.

    UnknownClinicError if its clinic is not registered and active; QuotaExceededError if the
    caller has no submission left in the window; EnqueueError if the queue refused it.
    """
    now = now or utcnow()
    try:
        require_active(clinics, request.clinic_id)
        grant = quota.take(caller.user_id, now)
    except UnknownClinicError:
        logger.info("Refused a case for an unknown clinic")
        metrics.add_metric(name="UnknownClinic", unit=MetricUnit.Count, value=1)
        raise
    except QuotaExceededError:
        logger.info("Refused a case over the owner's quota", extra={"owner": caller.user_id})
        metrics.add_metric(name="QuotaExceeded", unit=MetricUnit.Count, value=1)
        raise
    try:
        return _accept(request, caller, repo, queue, now, record_id)
    except Exception:
        quota.give_back(grant)
        raise


def _accept(
    request: PreDiagnosisRequest,
    caller: Caller,
    repo: Repository,
    queue: JobQueue,
    now: datetime,
    record_id: str | None,
) -> Accepted:
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
    try:
        queue.send(lane, job_of(record))
    except Exception as exc:
        logger.exception("Could not queue %s", record.id, extra={"pre_diagnosis_id": record.id})
        repo.refuse(record.id, REFUSED_REASON, utcnow())
        metrics.add_metric(name="Refused", unit=MetricUnit.Count, value=1)
        raise EnqueueError("the analysis queue is unavailable; please retry") from exc
    logger.info(
        "Accepted %s",
        record.id,
        extra={
            "pre_diagnosis_id": record.id,
            "lane": lane.value,
            "triage_level": result.level.value,
        },
    )
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    return Accepted(id=record.id, status=record.status, urgency=record.urgency, lane=lane)
