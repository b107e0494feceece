"""Use case: one attempt at analysing a pre-diagnosis, for one delivery of its job.

`run_attempt` reads nothing from the queue and calls no queue: it moves the record with one
conditional write per transition and returns an `Outcome`, which the analyze handler maps to the
queue in one place. The record is the lock: a delivery that loses the conditional start (another
delivery is analysing, the record is finished, or the job is obsolete since a redrive) does
nothing and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from prediag.errors import AnalysisError, ConflictError, NotFoundError
from prediag.models import (
    Analysis,
    Attempt,
    PreDiagnosis,
    PreDiagnosisRequest,
    ProviderOutcome,
    QueueMessage,
    Status,
    TriageResult,
    utcnow,
)
from prediag.repository import AttemptEnd, Repository

logger = Logger(child=True)
metrics = Metrics()

Analyzer = Callable[[PreDiagnosisRequest, TriageResult, int], Analysis]
"""(request, triage floor, remaining milliseconds) -> validated analysis."""

Action = Literal["done", "retry", "dead_letter", "busy"]


@dataclass(frozen=True)
class Outcome:
    """What the queue does with the delivery that ran the attempt.

    - done: delete the job (analysed, or nothing left to do: finished, obsolete, orphaned);
    - retry: make the job visible again after `delay_seconds` (the backoff);
    - dead_letter: the record is failed: send its job to the lane's dead-letter queue, then
      delete it from the lane;
    - busy: another delivery is analysing the record: leave this copy hidden (it comes back
      after the visibility timeout and finds the record finished).
    """

    action: Action
    note: str
    delay_seconds: int = 0
    record: PreDiagnosis | None = None


@dataclass(frozen=True)
class JobPolicy:
    max_attempts: int = 3
    backoff_base_seconds: int = 2
    attempt_timeout_seconds: int = 900
    """The analyze function's timeout: an attempt started longer ago than this has died."""

    def backoff(self, attempt: int) -> int:
        return int(self.backoff_base_seconds * 2 ** (attempt - 1))

    def stale_before(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.attempt_timeout_seconds)


def run_attempt(
    job: QueueMessage,
    attempt_number: int,
    *,
    repo: Repository,
    analyze: Analyzer,
    remaining_ms: Callable[[], int],
    policy: JobPolicy,
) -> Outcome:
    """Analyse the record of `job` once (`attempt_number` is SQS's receive count)."""
    record_id = job.pre_diagnosis_id
    log: dict[str, Any] = {
        "pre_diagnosis_id": record_id,
        "attempt": attempt_number,
        "max_attempts": policy.max_attempts,
        "dispatch": job.dispatch,
    }
    now = utcnow()
    if attempt_number > policy.max_attempts:
        spent = _after_last_attempt(job, repo, policy, now, log)
        if spent is not None:
            return spent
    try:
        record = repo.start_attempt(
            record_id,
            Attempt(number=attempt_number, started_at=now),
            dispatch=job.dispatch,
            stale_before=policy.stale_before(now),
        )
    except NotFoundError:
        return _orphan(log)
    except ConflictError as lost:
        return _not_started(job, lost.current, log)

    logger.info(
        "Starting the analysis of %s (attempt %d/%d)",
        record_id,
        attempt_number,
        policy.max_attempts,
        extra=log,
    )
    try:
        analysis = analyze(record.request, record.triage, remaining_ms())
    except Exception as exc:
        return _attempt_failed(record, exc, attempt_number, repo, policy, log)
    try:
        end = AttemptEnd(Status.COMPLETED, analysis=analysis, providers=analysis.providers)
        done = repo.end_attempt(record, end, utcnow())
    except ConflictError:
        logger.info("The attempt on %s was superseded; its result is dropped", record_id, extra=log)
        return Outcome("done", "superseded")
    logger.info(
        "Completed the analysis of %s",
        record_id,
        extra={**log, "urgency": analysis.urgency.value, "degraded": analysis.degraded},
    )
    metrics.add_metric(name="Completed", unit=MetricUnit.Count, value=1)
    return Outcome("done", "completed", record=done)


def dead_lettered(job: QueueMessage, repo: Repository) -> None:
    """The failed record's job is now in the dead-letter queue: an operator may redrive it."""
    try:
        repo.mark_dead_lettered(job.pre_diagnosis_id, job.dispatch)
    except (ConflictError, NotFoundError) as exc:
        logger.warning("Dead letter of %s: %s", job.pre_diagnosis_id, exc)


def _attempt_failed(
    record: PreDiagnosis,
    exc: Exception,
    attempt_number: int,
    repo: Repository,
    policy: JobPolicy,
    log: dict[str, Any],
) -> Outcome:
    providers: Sequence[ProviderOutcome] = getattr(exc, "outcomes", None) or ()
    reason = str(exc) if isinstance(exc, AnalysisError) else f"{type(exc).__name__}: {exc}"
    permanent = isinstance(exc, AnalysisError) and not exc.retryable
    final = permanent or attempt_number >= policy.max_attempts
    logger.warning(
        "The analysis of %s failed: %s",
        record.id,
        reason,
        extra={
            **log,
            "permanent": permanent,
            "final": final,
            "providers": [_cause(p) for p in providers if p.outcome != "ok"],
        },
    )
    status = Status.FAILED if final else Status.PENDING
    try:
        repo.end_attempt(record, AttemptEnd(status, error=reason, providers=providers), utcnow())
    except ConflictError:
        logger.info("The attempt on %s was superseded", record.id, extra=log)
        return Outcome("done", "superseded")
    if final:
        metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
        return Outcome("dead_letter", reason)
    metrics.add_metric(name="Retries", unit=MetricUnit.Count, value=1)
    return Outcome("retry", reason, delay_seconds=policy.backoff(attempt_number))


def _cause(outcome: ProviderOutcome) -> dict[str, Any]:
    return outcome.model_dump(
        include={"provider", "outcome", "status_code", "error_code", "error", "latency_ms"},
        exclude_none=True,
    )


def _orphan(log: dict[str, Any]) -> Outcome:
    logger.error("Job for %s has no record; dropped", log["pre_diagnosis_id"], extra=log)
    metrics.add_metric(name="OrphanJobs", unit=MetricUnit.Count, value=1)
    return Outcome("done", "no such record")


def _not_started(job: QueueMessage, current: PreDiagnosis | None, log: dict[str, Any]) -> Outcome:
    """Another writer won the conditional start: say why and act accordingly."""
    record_id = job.pre_diagnosis_id
    if current is None:
        return _orphan(log)
    if current.redrives != job.dispatch:
        logger.info(
            "Job for %s is obsolete (dispatch %d, the record is at %d); dropped",
            record_id,
            job.dispatch,
            current.redrives,
            extra=log,
        )
        return Outcome("done", "obsolete job")
    if current.status is Status.FAILED:
        logger.info("%s is failed; its job goes to the dead-letter queue", record_id, extra=log)
        return Outcome("dead_letter", current.failure_reason or "failed")
    if current.status is Status.PROCESSING:
        logger.info("%s is being analysed by another delivery", record_id, extra=log)
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return Outcome("busy", "another delivery is analysing it")
    logger.info("%s is %s; duplicate delivery ignored", record_id, current.status, extra=log)
    metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    return Outcome("done", f"the record is {current.status.value}")


def _after_last_attempt(
    job: QueueMessage, repo: Repository, policy: JobPolicy, now: datetime, log: dict[str, Any]
) -> Outcome | None:
    """A delivery past the last attempt (the lanes deliver once more than the attempts, so that
    a last attempt that died is still ended). A record left `processing` by an attempt that died
    is made failed (the vet is told) and its job dead-lettered; one that another delivery is
    analysing now leaves this spent copy nothing to do. Otherwise None: the record is pending
    because some receives never ran an attempt (duplicates), and this one runs the last."""
    record = repo.get(job.pre_diagnosis_id)
    if record is None:
        return _orphan(log)
    if record.redrives != job.dispatch or record.status is not Status.PROCESSING:
        return None
    started = record.attempt_started_ms or 0
    if started >= int(policy.stale_before(now).timestamp() * 1000):
        return Outcome("done", "another delivery is analysing it; this copy is spent")
    try:
        record = repo.fail_stranded(record, STRANDED_REASON, now)
    except ConflictError as lost:
        return _not_started(job, lost.current, log)
    logger.warning("%s failed: %s", record.id, STRANDED_REASON, extra=log)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    return Outcome("dead_letter", STRANDED_REASON)


STRANDED_REASON = "the last attempt did not finish (the function crashed or timed out)"
