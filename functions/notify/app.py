"""Notify function: one message to the vet per record and terminal state, and one at once
when a case comes in with an immediate red flag (before its analysis ends)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import notification, wiring
from prediag.items import record_from_item
from prediag.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
wiring.quiet_aws_client_logs()
processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
)
settings = get_settings()
idempotency = IdempotencyConfig(
    event_key_jmespath="[id.S, version.N]",
    expires_after_seconds=7 * 24 * 3600,
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name or "")


@idempotent_function(
    data_keyword_argument="image",
    persistence_store=persistence,
    config=idempotency,
    key_prefix="prediag-notify",
)
def deliver(image: dict[str, Any]) -> str:
    """Publish once per (record, version): a retried stream batch does not notify twice.

    A terminal record tells its outcome; a new record (version 1, only immediate cases pass the
    trigger's filter) is a red flag.
    """
    return notification.notify(
        record_from_item(image), wiring.notifier(), wiring.repository(), settings.public_base_url
    )


def handle_record(record: DynamoDBRecord) -> None:
    new_image = record.raw_event["dynamodb"].get("NewImage")
    if not new_image:
        return
    deliver(image=new_image)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
