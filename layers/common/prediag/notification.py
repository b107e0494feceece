"""Use case: tell the clinic's vet. One message per record and terminal state, and one at once
when a case comes in with an immediate red flag (before its analysis ends)."""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from prediag.errors import NotFoundError
from prediag.models import PreDiagnosis, SentNotification, Status, utcnow
from prediag.notifier import Kind, Notifier, VetNotification
from prediag.repository import DynamoRepository

logger = Logger(child=True)
metrics = Metrics()


def kind_of(record: PreDiagnosis) -> Kind:
    if record.status is Status.COMPLETED:
        return "completed"
    if record.status is Status.FAILED:
        return "failed"
    return "red_flag"


def build_notification(record: PreDiagnosis, kind: Kind, base_url: str | None) -> VetNotification:
    analysis = record.analysis
    flags = [f.label for f in record.triage.flags]
    if analysis:
        flags += [f for f in analysis.red_flags if f not in flags]
    return VetNotification(
        kind=kind,
        id=record.id,
        clinic_id=record.clinic_id,
        vet_id=record.vet_id,
        status=record.status,
        urgency=record.urgency,
        colour=record.urgency.colour,
        see_within_minutes=record.urgency.target_minutes,
        species=record.request.pet.species,
        breed=record.request.pet.breed,
        age_years=record.request.pet.age_years,
        weight_kg=record.request.pet.weight_kg,
        red_flags=flags[:10],
        top_differentials=[d.condition for d in analysis.differentials[:3]] if analysis else [],
        degraded=analysis.degraded if analysis else False,
        failure_reason=record.failure_reason if record.status is Status.FAILED else None,
        link=f"{base_url.rstrip('/')}/pre-diagnoses/{record.id}" if base_url else None,
    )


def notify(
    record: PreDiagnosis,
    notifier: Notifier,
    repo: DynamoRepository,
    base_url: str | None,
) -> str | Literal["skipped"]:
    """Tell the vet about `record` as the stream saw it; the SNS message id, or "skipped".

    A red flag is not announced for a submission already refused because its job could not be
    queued (the owner was answered 503). The stream usually delivers the new record before a
    failing send gives up, so a refused case's red flag may still have gone out: the vet is
    never kept from an immediate red flag by a queue outage.
    """
    kind = kind_of(record)
    log = {"pre_diagnosis_id": record.id, "kind": kind, "urgency": record.urgency.value}
    if kind == "red_flag":
        current = repo.get(record.id)
        if current is None or current.status is Status.REFUSED:
            logger.info("No red flag for %s: the submission was refused", record.id, extra=log)
            return "skipped"
    message_id = notifier.publish(build_notification(record, kind, base_url))
    logger.info("Notified the vet of %s (%s)", record.id, kind, extra=log)
    metrics.add_metric(name="Notifications", unit=MetricUnit.Count, value=1)
    note = SentNotification(
        kind=kind,
        status=record.status,
        urgency=record.urgency,
        version=record.version,
        sent_at=utcnow(),
        message_id=message_id,
    )
    try:
        repo.note_notification(record.id, note)
    except (ClientError, BotoCoreError, NotFoundError) as exc:
        # the vet was told: a missing line in the record's history must not send it twice
        logger.warning(
            "The notification of %s could not be noted on the record",
            record.id,
            extra={**log, "error_type": type(exc).__name__},
        )
    return message_id
