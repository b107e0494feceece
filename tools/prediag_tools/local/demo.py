"""The demo record the local stack seeds, which the sample events in events/ name.

`events/stream-insert-red-flag.json` is the stream record of the demo record's creation: its
NewImage is the item as the submit function stores it (pending). `make run` and
`prediag local invoke --fresh` write that item, so that on a fresh stack the sample GET and list
events read it, `events/sqs-analyze-batch.json` (its queue message) analyses it, and the stream
events notify the vet about it. No message is queued with it: the sample SQS event is its
delivery, so the record stays pending until that event is invoked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prediag_tools.local.aws import client
from prediag_tools.local.provision import Provisioned

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEMO_EVENT = PROJECT_ROOT / "events" / "stream-insert-red-flag.json"
TABLE_OUTPUT = "PreDiagnosesTableName"


def demo_item(event_path: Path = DEMO_EVENT) -> dict[str, Any] | None:
    """The demo record as a DynamoDB item (the sample INSERT's NewImage), if the file exists."""
    if not event_path.is_file():
        return None
    event = json.loads(event_path.read_text(encoding="utf-8"))
    item: dict[str, Any] = event["Records"][0]["dynamodb"]["NewImage"]
    return item


def seed(provisioned: Provisioned, event_path: Path = DEMO_EVENT) -> str | None:
    """Write the demo record into the template's pre-diagnoses table; its id, or None when this
    template has no such table (or the sample event is missing). An existing record is kept."""
    table = provisioned.outputs.get(TABLE_OUTPUT)
    item = demo_item(event_path)
    if not table or item is None:
        return None
    ddb = client("dynamodb", provisioned.endpoint_url, provisioned.region)
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(id)")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return str(item["id"]["S"])
