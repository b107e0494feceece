"""The submit (API) function against moto: accept, validate, read, and refuse to lose work."""

from __future__ import annotations

import json

import boto3
import pytest

from prediag import submission, wiring
from prediag.models import Status
from tests.integration.support import OWNER, api_event, header, register_clinic, request_body


def test_post_stores_a_pending_record_and_queues_its_ids_on_the_normal_lane(invoke, queues):
    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body()))

    assert res["statusCode"] == 201
    body = json.loads(res["body"])
    assert body["status"] == "pending"
    assert body["lane"] == "normal"
    assert header(res, "Location") == f"/pre-diagnoses/{body['id']}"
    record = wiring.repository().get(body["id"])
    assert record is not None
    assert record.status is Status.PENDING
    assert record.user_id == OWNER
    messages = queues.receive("NormalQueueUrl")
    assert [json.loads(m["Body"]) for m in messages] == [
        {"preDiagnosisId": body["id"], "userId": OWNER, "petId": "pet-42", "dispatch": 0}
    ]


def test_a_red_flag_case_is_routed_to_the_urgent_lane(invoke, queues):
    res = invoke("submit")(
        api_event("POST", "/pre-diagnoses", body=request_body("request-urgent.json"))
    )

    body = json.loads(res["body"])
    assert (res["statusCode"], body["lane"], body["urgency"]) == (201, "urgent", "immediate")
    assert [json.loads(m["Body"])["preDiagnosisId"] for m in queues.receive("UrgentQueueUrl")] == [
        body["id"]
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (request_body(onset="last tuesday"), "onset"),
        ({**request_body(), "pet": {**request_body()["pet"], "species": "dragon"}}, "pet.species"),
        ({k: v for k, v in request_body().items() if k != "clinicId"}, "clinicId"),
        (request_body(symptoms=[]), "symptoms"),
    ],
)
def test_invalid_body_is_a_422_naming_the_field_and_stores_nothing(
    invoke, queues, stack, body, field
):
    table = boto3.client("dynamodb")
    name = stack.outputs["PreDiagnosesTableName"]
    stored = table.scan(TableName=name, Select="COUNT")["Count"]
    queued = queues.depth("NormalQueueUrl")

    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=body))

    assert res["statusCode"] == 422
    payload = json.loads(res["body"])
    assert field in [e["field"] for e in payload["errors"]]
    assert field in payload["message"]
    assert table.scan(TableName=name, Select="COUNT")["Count"] == stored
    assert queues.depth("NormalQueueUrl") == queued


def test_owner_reads_their_record_and_a_stranger_gets_404(invoke):
    api = invoke("submit")
    created = json.loads(api(api_event("POST", "/pre-diagnoses", body=request_body()))["body"])
    path = f"/pre-diagnoses/{created['id']}"

    mine = api(api_event("GET", path))
    theirs = api(api_event("GET", path, user="someone-else"))

    assert mine["statusCode"] == 200
    assert json.loads(mine["body"])["request"]["pet"]["species"] == "dog"
    assert theirs["statusCode"] == 404


def test_the_clinic_vet_reads_the_record_and_another_clinic_vet_does_not(invoke):
    api = invoke("submit")
    created = json.loads(api(api_event("POST", "/pre-diagnoses", body=request_body()))["body"])
    path = f"/pre-diagnoses/{created['id']}"

    register_clinic("clinic-paris-09")
    ours = api(api_event("GET", path, user="vet-1", groups="vets", clinic="clinic-lyon-01"))
    other = api(api_event("GET", path, user="vet-2", groups="vets", clinic="clinic-paris-09"))

    assert (ours["statusCode"], other["statusCode"]) == (200, 404)


def test_unknown_record_is_404(invoke):
    res = invoke("submit")(api_event("GET", "/pre-diagnoses/does-not-exist"))
    assert res["statusCode"] == 404


def test_request_without_identity_claims_is_401(invoke):
    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body(), user=None))
    assert res["statusCode"] == 401


def test_queue_failure_after_the_write_is_503_and_the_record_is_refused_not_pending(
    invoke, stack, monkeypatch
):
    table = boto3.client("dynamodb")
    name = stack.outputs["PreDiagnosesTableName"]
    before = {i["id"]["S"] for i in table.scan(TableName=name)["Items"]}
    monkeypatch.setenv("NORMAL_QUEUE_URL", stack.outputs["NormalQueueUrl"] + "-gone")
    wiring.reset()

    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body()))

    assert res["statusCode"] == 503
    assert header(res, "Retry-After") == "5"
    new = [i for i in table.scan(TableName=name)["Items"] if i["id"]["S"] not in before]
    assert [(i["status"]["S"], i["failureReason"]["S"]) for i in new] == [
        ("refused", submission.REFUSED_REASON)
    ]
