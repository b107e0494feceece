"""Analyze function: consumes both lanes, one partial batch response per invocation.

Each message is analysed at most once to completion: Powertools idempotency (keyed on the
pre-diagnosis id) stops a concurrent duplicate delivery and a redelivery of a finished job,
and the conditional writes of the repository stop anything that gets past it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import service, wiring
from prediag.ai import analyse_case, preload_providers
from prediag.models import QueueMessage
from prediag.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
wiring.quiet_aws_client_logs()
# Import the enabled providers' SDKs during the init phase, not in the first record's time budget.
preload_providers()
# Failed items are always reported, never raised: a fully failed batch is not a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# The idempotency key is the pre-diagnosis id alone, which is what makes it right:
# - a retry after a FAILED attempt runs again: the attempt raised, and Powertools deletes the
#   key's record when the function raises;
# - a concurrent duplicate delivery (SQS is at-least-once) finds the key IN_PROGRESS and stops;
# - a redelivery of a finished job finds it COMPLETED and returns the stored outcome, without
#   reading the record or calling a model;
# - a redrive (failed -> pending) runs: the failed attempts left no record behind.
# Keying on the SQS messageId or the receive count would not stop the duplicates: a duplicate
# delivery has its own receive count, a redriven or resent job a new message id.
# The in-progress lock lasts as long as the invocation (register_lambda_context), so after a
# crash or timeout the redelivery, which comes after the visibility timeout (6 x the function
# timeout), runs. A finished job's record expires after 24 h (the old worker kept completed jobs
# 24 h). key_prefix keeps the key independent of the module name (each local execution
# environment imports this file under its own name).
idempotency = IdempotencyConfig(
    event_key_jmespath="preDiagnosisId",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)
persistence = DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table_name or "")


@idempotent_function(
    data_keyword_argument="job",
    persistence_store=persistence,
    config=idempotency,
    key_prefix="prediag-analyze",
)
def analyse_once(job: dict[str, Any], attempt: int, remaining_ms: Callable[[], int]) -> str:
    """Run one attempt of the job; the outcome ("completed" or "skipped") is what is stored."""
    done = service.run_job(
        QueueMessage.model_validate(job),
        attempt,
        repo=wiring.repository(),
        analyse=lambda req, floor, ms: analyse_case(req, floor, remaining_ms=ms),
        remaining_ms=remaining_ms,
        policy=wiring.job_policy(),
    )
    return done.status.value if done is not None else "skipped"


def handle_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    message = QueueMessage.model_validate_json(record.body)
    attempt = int(record.attributes.approximate_receive_count)
    try:
        analyse_once(
            job=message.dump(),
            attempt=attempt,
            remaining_ms=lambda_context.get_remaining_time_in_millis,
        )
    except IdempotencyAlreadyInProgressError:
        # Another delivery of this job is being analysed now. This copy is reported failed and
        # left hidden: it comes back after the visibility timeout and then finds the outcome.
        logger.info(
            "Job %s is being analysed by another delivery; this copy will be retried later",
            message.pre_diagnosis_id,
            extra={"job_id": message.pre_diagnosis_id, "attempt": attempt},
        )
        raise
    except service.RetryJob as retry:
        wiring.job_queue().delay_retry(
            record.event_source_arn, record.receipt_handle, retry.delay_seconds
        )
        raise
    except service.DeadLetter:
        wiring.job_queue().delay_retry(record.event_source_arn, record.receipt_handle, 0)
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
