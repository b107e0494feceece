"""Every file in events/ is a valid event for its function: each goes through its handler here,
against the template's resources in moto, with the records it refers to in the table."""

from __future__ import annotations

import json
from typing import Any

import boto3

from prediag import wiring
from prediag.items import from_item, record_from_item, to_item
from prediag.models import Status
from tests.integration.support import EVENTS


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _store(stack, image: dict[str, Any], **changes: Any) -> str:
    """Put the record a sample event refers to (typed DynamoDB image), with some fields changed."""
    record = record_from_item(image).model_copy(update=changes)
    boto3.client("dynamodb").put_item(
        TableName=stack.outputs["PreDiagnosesTableName"], Item=to_item(record.dump())
    )
    return record.id


def _sample_record_image() -> dict[str, Any]:
    return _event("stream-modify-completed.json")["Records"][0]["dynamodb"]["NewImage"]


def test_every_sample_event_is_covered_here():
    covered = {
        "api-post-pre-diagnosis.json",
        "api-get-pre-diagnosis.json",
        "api-list-pre-diagnoses.json",
        "api-admin-queues.json",
        "sqs-analyze-batch.json",
        "stream-modify-completed.json",
        "stream-insert-red-flag.json",
        "request-normal.json",  # the body of api-post-pre-diagnosis.json
        "request-urgent.json",  # used by the integration and end-to-end tests
    }
    assert {p.name for p in EVENTS.glob("*.json")} == covered


def test_api_post_event_is_accepted(invoke):
    res = invoke("submit")(_event("api-post-pre-diagnosis.json"))
    assert res["statusCode"] == 201
    assert json.loads(_event("api-post-pre-diagnosis.json")["body"]) == _event(
        "request-normal.json"
    )


def test_api_get_event_reads_the_record_of_its_owner(invoke, stack):
    record_id = _store(stack, _sample_record_image())
    event = _event("api-get-pre-diagnosis.json")
    assert event["pathParameters"] == {"id": record_id}

    res = invoke("submit")(event)

    assert res["statusCode"] == 200
    assert json.loads(res["body"])["id"] == record_id


def test_api_list_event_lists_the_callers_records(invoke, stack):
    record_id = _store(stack, _sample_record_image())

    res = invoke("submit")(_event("api-list-pre-diagnoses.json"))

    assert res["statusCode"] == 200
    assert record_id in [item["id"] for item in json.loads(res["body"])["items"]]


def test_api_admin_queues_event_answers_the_statistics(invoke):
    res = invoke("submit")(_event("api-admin-queues.json"))

    assert res["statusCode"] == 200
    stats = json.loads(res["body"])
    assert [lane["lane"] for lane in stats["lanes"]] == ["urgent", "normal"]
    assert {"waiting", "active", "delayed", "dead", "completed", "failed"} <= stats.keys()


def test_sqs_batch_event_completes_its_pending_record(invoke, stack):
    image = _event("stream-modify-completed.json")["Records"][0]["dynamodb"]["OldImage"]
    record_id = _store(stack, image, status=Status.PENDING, attempts=[], version=1)
    event = _event("sqs-analyze-batch.json")
    assert json.loads(event["Records"][0]["body"])["preDiagnosisId"] == record_id

    res = invoke("analyze")(event)

    assert res == {"batchItemFailures": []}
    record = wiring.repository().get(record_id)
    assert record is not None
    assert record.status is Status.COMPLETED


def test_stream_modify_event_notifies_the_vet_once(invoke, vet_inbox):
    event = _event("stream-modify-completed.json")

    assert invoke("notify")(event) == {"batchItemFailures": []}
    assert invoke("notify")(event) == {"batchItemFailures": []}

    notes = vet_inbox.messages()
    assert [json.loads(n["Message"])["kind"] for n in notes] == ["completed"]


def test_stream_insert_event_of_an_immediate_case_sends_a_red_flag(invoke, vet_inbox):
    event = _event("stream-insert-red-flag.json")
    assert from_item(event["Records"][0]["dynamodb"]["NewImage"])["urgency"] == "immediate"

    assert invoke("notify")(event) == {"batchItemFailures": []}

    notes = vet_inbox.messages()
    assert [json.loads(n["Message"])["kind"] for n in notes] == ["red_flag"]
    assert notes[0]["MessageAttributes"]["urgency"]["Value"] == "immediate"
