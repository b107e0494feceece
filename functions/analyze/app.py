"""Analyze function: consumes both lanes; the records of a batch are analysed concurrently.

Each record runs one attempt (`prediag.analysis.run_attempt`), whose outcome this handler maps
to the queue, in `settle` and nowhere else. Powertools' AsyncBatchProcessor runs the records'
handlers together and builds the partial batch response: a record that fails never holds up
the others. The attempts themselves are blocking (the providers' SDKs and boto3), so each runs
in a thread of its own, bounded by the batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import analysis, wiring
from prediag.ai import analyze_case, preload_providers
from prediag.models import QueueMessage
from prediag.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
wiring.quiet_aws_client_logs()
# Import the enabled providers' SDKs during the init phase, not in the first record's time budget.
preload_providers()
# An SQS batch holds at most 10 records (the template's BatchSize); one thread each.
attempts = ThreadPoolExecutor(max_workers=10, thread_name_prefix="attempt")


class JobRecord(SqsRecordModel):
    """An SQS record whose body is a job (a body that is not one fails that record alone)."""

    body: Json[QueueMessage]


# Failed items are always reported, never raised: a fully failed batch is not a function error.
processor = AsyncBatchProcessor(
    event_type=EventType.SQS, model=JobRecord, raise_on_entire_batch_failure=False
)


class NotDone(Exception):
    """Reported to the batch processor as this record's failure: SQS delivers it again."""


def settle(outcome: analysis.Outcome, record: JobRecord) -> None:
    """Map an attempt's outcome to the queue: the one place the analysis meets SQS."""
    queue = wiring.job_queue()
    if outcome.action == "retry":
        queue.retry_after(record.eventSourceARN, record.receiptHandle, outcome.delay_seconds)
        raise NotDone(f"retry in {outcome.delay_seconds}s: {outcome.note}")
    if outcome.action == "busy":
        raise NotDone(outcome.note)  # stays hidden until the visibility timeout
    if outcome.action == "dead_letter":
        queue.dead_letter(record.eventSourceARN, record.body)
        analysis.dead_lettered(record.body, wiring.repository())
    # done, and dead-lettered: the batch response leaves it out, so SQS deletes it


def attempt(record: JobRecord, context: LambdaContext) -> None:
    job = record.body
    receive_count = int(record.attributes.ApproximateReceiveCount)
    logger.thread_safe_append_keys(pre_diagnosis_id=job.pre_diagnosis_id, attempt=receive_count)
    try:
        outcome = analysis.run_attempt(
            job,
            receive_count,
            repo=wiring.repository(),
            analyze=lambda req, floor, ms: analyze_case(
                req, floor, remaining_ms=ms, settings=get_settings().ai
            ),
            remaining_ms=context.get_remaining_time_in_millis,
            policy=wiring.job_policy(),
        )
        settle(outcome, record)
    finally:
        logger.thread_safe_clear_keys()


async def handle_record(record: JobRecord, lambda_context: LambdaContext) -> None:
    run = contextvars.copy_context().run
    await asyncio.get_running_loop().run_in_executor(attempts, run, attempt, record, lambda_context)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return async_process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
