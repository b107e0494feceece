"""Analyze function: consumes both lanes, one partial batch response per invocation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import service, wiring
from prediag.ai import analyse_case
from prediag.models import QueueMessage

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Failed items are always reported, never raised: a fully failed batch is not a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def handle_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    message = QueueMessage.model_validate_json(record.body)
    attempt = int(record.attributes.approximate_receive_count)
    try:
        service.run_job(
            message,
            attempt,
            repo=wiring.repository(),
            analyse=lambda req, floor, ms: analyse_case(req, floor, remaining_ms=ms),
            remaining_ms=lambda_context.get_remaining_time_in_millis,
            policy=wiring.job_policy(),
        )
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
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
