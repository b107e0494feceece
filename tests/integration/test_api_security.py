"""The API's security against moto: who may read and list what, idempotent submits, and the
limits every input must respect (a clear 4xx, never a 5xx, never a half-stored record)."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger

from prediag import wiring
from prediag.items import encode_cursor
from prediag.locks import DynamoLock
from prediag.models import Status
from prediag.ops import deadletters
from tests.integration.support import Lambda, api_event, header, register_clinic, request_body

CLINIC = "clinic-lyon-01"
OTHER_CLINIC = "clinic-paris-09"
ADMIN = {"user": "admin-1", "groups": "admins"}


def vet(clinic: str = CLINIC) -> dict[str, Any]:
    return {"user": f"vet-{clinic}", "groups": "vets", "clinic": clinic}


def new_owner() -> str:
    return str(uuid.uuid4())


def call(
    api: Lambda,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    **who: Any,
) -> dict[str, Any]:
    """Invoke the submit function with an API Gateway (REST) event."""
    event = api_event(method, path, body=body, **who)
    if raw is not None:
        event["body"] = raw
    if base64_body:
        event["body"] = base64.b64encode(event["body"].encode("latin-1")).decode()
        event["isBase64Encoded"] = True
    for name, value in (headers or {}).items():
        for key in [k for k in event["headers"] if k.lower() == name.lower()]:
            del event["headers"][key]
            event["multiValueHeaders"].pop(key, None)
        if value is not None:
            event["headers"][name] = value
            event["multiValueHeaders"][name] = [value]
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    result: dict[str, Any] = api(event)
    return result


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@pytest.fixture
def api(invoke: Callable[[str], Lambda]) -> Lambda:
    register_clinic(OTHER_CLINIC)  # another registered clinic: its vets are real vets
    return invoke("submit")


@pytest.fixture
def table(stack: Any) -> Callable[[], int]:
    """Number of records in the table now."""
    client = boto3.client("dynamodb")
    name = stack.outputs["PreDiagnosesTableName"]
    return lambda: client.scan(TableName=name, Select="COUNT")["Count"]


def submit(api: Lambda, owner: str, clinic: str = CLINIC, **changes: Any) -> str:
    register_clinic(clinic)
    response = call(
        api, "POST", "/pre-diagnoses", body=request_body(clinicId=clinic, **changes), user=owner
    )
    assert response["statusCode"] == 201, response["body"]
    return str(body_of(response)["id"])


# ---------------------------------------------------------------------- reading one record
@pytest.mark.parametrize(
    ("who", "status"),
    [
        ({"user": "owner"}, 200),
        (vet(CLINIC), 200),
        (ADMIN, 200),
        ({"user": "stranger"}, 404),
        (vet(OTHER_CLINIC), 404),
        ({"user": "vet-without-clinic", "groups": "vets"}, 404),
    ],
    ids=["owner", "clinic-vet", "admin", "stranger", "other-clinic-vet", "vet-without-clinic"],
)
def test_a_record_is_read_by_its_owner_its_clinic_and_admins_and_is_404_for_anyone_else(
    api, who, status
):
    owner = new_owner()
    record_id = submit(api, owner)
    if who.get("user") == "owner":
        who = {"user": owner}

    response = call(api, "GET", f"/pre-diagnoses/{record_id}", **who)

    assert response["statusCode"] == status
    if status == 404:  # the same answer as for an id that does not exist: no existence leak
        missing = call(api, "GET", "/pre-diagnoses/no-such-record", **who)
        assert (missing["statusCode"], set(body_of(missing))) == (404, set(body_of(response)))
    else:
        assert body_of(response)["id"] == record_id


@pytest.mark.parametrize(
    "path",
    ["/pre-diagnoses", "/pre-diagnoses/some-id", "/admin/jobs", "/admin/jobs/some-id"],
    ids=["list", "read", "jobs", "job"],
)
def test_every_data_route_is_401_without_identity_claims(api, path):
    response = call(api, "GET", path, user=None)
    assert response["statusCode"] == 401
    assert body_of(response) == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/queues", None),
        ("POST", "/admin/redrive", {"dryRun": True}),
        ("POST", "/admin/pause", {}),
        ("POST", "/admin/resume", {}),
        ("GET", "/admin/jobs", None),
        ("GET", "/admin/jobs/some-id", None),
    ],
)
@pytest.mark.parametrize("who", [{"user": "owner-1"}, vet(CLINIC)], ids=["owner", "vet"])
def test_admin_routes_are_403_for_anyone_outside_the_admins_group(api, method, path, body, who):
    response = call(api, method, path, body=body, **who)
    assert response["statusCode"] == 403


def test_admin_routes_answer_an_admin(api):
    response = call(api, "GET", "/admin/queues", **ADMIN)
    assert response["statusCode"] == 200


def test_a_dry_run_redrive_reports_each_record_and_changes_nothing(api, stack):
    failed = _failed_record(api)

    response = call(api, "POST", "/admin/redrive", body={"ids": [failed, "no-such-record"],
                    "dryRun": True}, **ADMIN)  # fmt: skip

    assert response["statusCode"] == 200
    report = body_of(response)
    assert report["dryRun"] is True
    assert [(i["id"], i["action"]) for i in report["items"]] == [
        (failed, "would_redrive"),
        ("no-such-record", "skipped"),
    ]
    assert report["items"][1]["reason"] == "no such record"
    assert report["letters"] == []
    record = wiring.repository().get(failed)
    assert record is not None and record.status.value == "failed"


def test_a_redrive_while_another_operation_holds_the_lane_still_redrives_and_defers_the_sweep(
    api, stack, monkeypatch
):
    failed = _failed_record(api)
    monkeypatch.setattr(deadletters, "LEASE_WAIT_SECONDS", 0.2)
    lock = DynamoLock(stack.outputs["IdempotencyTableName"])

    with lock.hold("dlq#normal", lease_seconds=60, wait_seconds=0):
        response = call(api, "POST", "/admin/redrive", body={"ids": [failed]}, **ADMIN)

    assert response["statusCode"] == 200, response["body"]
    report = body_of(response)
    assert [(i["id"], i["action"]) for i in report["items"]] == [(failed, "redriven")]
    assert "busy" in report["sweepDeferred"]
    assert wiring.repository().get(failed).status is Status.PENDING


def test_a_redrive_that_must_read_a_held_dead_letter_queue_is_a_409_with_retry_after(
    api, stack, monkeypatch
):
    pending = submit(api, new_owner())  # a pending record: is its job in the DLQ? (a sweep)
    monkeypatch.setattr(deadletters, "LEASE_WAIT_SECONDS", 0.2)
    lock = DynamoLock(stack.outputs["IdempotencyTableName"])

    with lock.hold("dlq#normal", lease_seconds=60, wait_seconds=0):
        response = call(api, "POST", "/admin/redrive", body={"ids": [pending]}, **ADMIN)

    assert response["statusCode"] == 409
    assert header(response, "Retry-After") == "5"
    assert "busy" in body_of(response)["message"]


@pytest.mark.parametrize("path", ["/admin/pause", "/admin/resume"])
def test_pause_and_resume_take_no_body_or_a_lanes_object_but_not_null(api, path):
    # the test stack's Lambda API knows no trigger of the analyze function: a 409 says the
    # request was understood and the operation is not possible
    absent = call(api, "POST", path, **ADMIN)
    lanes = call(api, "POST", path, body={"lanes": ["urgent"]}, **ADMIN)
    null = call(api, "POST", path, raw="null", **ADMIN)
    unknown = call(api, "POST", path, body={"lanes": ["vip"]}, **ADMIN)

    assert (absent["statusCode"], lanes["statusCode"]) == (409, 409)
    assert "trigger" in body_of(absent)["message"]
    assert (null["statusCode"], body_of(null)["errors"][0]["type"]) == (422, "body_not_object")
    assert (unknown["statusCode"], body_of(unknown)["errors"][0]["field"]) == (422, "lanes.0")


def _failed_record(api: Lambda) -> str:
    """A failed record whose job is in the dead-letter queue (a copy of a new submission)."""
    repo = wiring.repository()
    submitted = repo.get(submit(api, new_owner()))
    assert submitted is not None
    failed = submitted.model_copy(
        update={"id": str(uuid.uuid4()), "status": Status.FAILED, "dead_lettered": True}
    )
    repo.create(failed)
    return failed.id


# ---------------------------------------------------------------------- listing
def ids_listed(api: Lambda, query: dict[str, str] | None = None, **who: Any) -> list[str]:
    response = call(api, "GET", "/pre-diagnoses", query=query or {}, **who)
    assert response["statusCode"] == 200, response["body"]
    return [item["id"] for item in body_of(response)["items"]]


def test_an_owner_lists_their_own_records_only(api):
    me, someone = new_owner(), new_owner()
    mine = {submit(api, me), submit(api, me)}
    theirs = submit(api, someone)

    listed = ids_listed(api, user=me)

    assert set(listed) == mine
    assert theirs not in listed


def test_a_vet_lists_the_records_of_their_clinic_only(api):
    clinic, other = f"clinic-{uuid.uuid4().hex[:8]}", f"clinic-{uuid.uuid4().hex[:8]}"
    ours = {submit(api, new_owner(), clinic), submit(api, new_owner(), clinic)}
    elsewhere = submit(api, new_owner(), other)

    listed = ids_listed(api, **vet(clinic))

    assert set(listed) == ours
    assert elsewhere not in listed


def test_an_admin_lists_by_clinic_or_by_owner(api):
    clinic, owner = f"clinic-{uuid.uuid4().hex[:8]}", new_owner()
    in_clinic = submit(api, new_owner(), clinic)
    of_owner = submit(api, owner)

    assert ids_listed(api, {"clinicId": clinic}, **ADMIN) == [in_clinic]
    assert ids_listed(api, {"userId": owner}, **ADMIN) == [of_owner]


@pytest.mark.parametrize(
    "query", [{}, {"clinicId": CLINIC, "userId": "someone"}], ids=["no-filter", "both-filters"]
)
def test_an_admin_listing_names_exactly_one_filter_or_gets_422(api, query):
    response = call(api, "GET", "/pre-diagnoses", query=query, **ADMIN)
    assert response["statusCode"] == 422
    assert "exactly one of clinicId or userId" in body_of(response)["message"]


@pytest.mark.parametrize(
    ("who", "query"),
    [
        ({"user": "owner-1"}, {"clinicId": CLINIC}),
        ({"user": "owner-1"}, {"userId": "owner-2"}),
        (vet(CLINIC), {"clinicId": OTHER_CLINIC}),
        (vet(CLINIC), {"userId": "owner-2"}),
    ],
    ids=["owner-by-clinic", "owner-by-other-owner", "vet-other-clinic", "vet-by-owner"],
)
def test_a_filter_beyond_the_callers_own_scope_is_403(api, who, query):
    response = call(api, "GET", "/pre-diagnoses", query=query, **who)
    assert response["statusCode"] == 403
    assert body_of(response)["message"].startswith("Forbidden")


def test_filters_naming_the_callers_own_scope_are_allowed(api):
    owner = new_owner()
    record_id = submit(api, owner)

    assert ids_listed(api, {"userId": owner}, user=owner) == [record_id]
    assert record_id in ids_listed(api, {"clinicId": CLINIC}, **vet(CLINIC))


def test_pages_follow_the_cursor_newest_first_until_there_is_no_next_cursor(api):
    owner = new_owner()
    created = [submit(api, owner) for _ in range(3)]

    first = body_of(call(api, "GET", "/pre-diagnoses", query={"limit": "2"}, user=owner))
    second = body_of(
        call(
            api,
            "GET",
            "/pre-diagnoses",
            query={"limit": "2", "cursor": first["nextCursor"]},
            user=owner,
        )
    )

    assert len(first["items"]) == 2
    assert second["nextCursor"] is None
    listed = [i["id"] for i in first["items"] + second["items"]]
    assert listed == list(reversed(created))
    times = [i["createdAt"] for i in first["items"] + second["items"]]
    assert times == sorted(times, reverse=True)


def test_list_items_are_summaries_without_the_owners_own_words(api):
    owner = new_owner()
    submit(api, owner, description="Secret words about my dog Moka that only the vet may read")

    item = body_of(call(api, "GET", "/pre-diagnoses", query={}, user=owner))["items"][0]

    assert "Secret words" not in json.dumps(item)
    assert {"id", "status", "urgency", "lane", "species", "clinicId", "createdAt"} <= set(item)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "bm90IGpzb24",  # "not json"
        base64.urlsafe_b64encode(b'{"id": 1}').decode(),
        base64.urlsafe_b64encode(b'{"id": "x", "userId": "someone-else", "createdAt": "z"}')
        .decode()
        .rstrip("="),
    ],
    ids=["bad-characters", "not-json", "not-a-key", "another-owners-partition"],
)
def test_a_bad_cursor_is_a_422_naming_the_cursor(api, cursor):
    response = call(api, "GET", "/pre-diagnoses", query={"cursor": cursor}, user=new_owner())

    assert response["statusCode"] == 422
    assert "cursor" in [e["field"] for e in body_of(response)["errors"]]


def test_a_cursor_from_another_owners_listing_does_not_open_their_records(api):
    owner, intruder = new_owner(), new_owner()
    for _ in range(2):
        submit(api, owner)
    page = body_of(call(api, "GET", "/pre-diagnoses", query={"limit": "1"}, user=owner))
    forged = encode_cursor(
        {"id": {"S": "x"}, "userId": {"S": owner}, "createdAt": {"S": "9999-12-31"}}
    )

    for cursor in (page["nextCursor"], forged):
        response = call(api, "GET", "/pre-diagnoses", query={"cursor": cursor}, user=intruder)
        assert response["statusCode"] == 422


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
def test_a_limit_outside_1_to_100_is_a_422_naming_limit(api, limit):
    response = call(api, "GET", "/pre-diagnoses", query={"limit": limit}, user=new_owner())

    assert response["statusCode"] == 422
    assert [e["field"] for e in body_of(response)["errors"]] == ["limit"]


@pytest.mark.parametrize("record_id", ["x" * 65, "bad id", "-leading-dash", "semi;colon"], ids=str)
def test_an_invalid_record_id_in_the_path_is_a_422_naming_id(api, record_id):
    response = call(api, "GET", f"/pre-diagnoses/{record_id}", user=new_owner())

    assert response["statusCode"] == 422
    assert [e["field"] for e in body_of(response)["errors"]] == ["id"]


def test_an_unknown_route_is_a_json_404(api):
    response = call(api, "GET", "/pre-diagnosis-typo", user=new_owner())
    assert (response["statusCode"], body_of(response)) == (404, {"message": "Not found"})


# ---------------------------------------------------------------------- idempotent submit
def key() -> str:
    return str(uuid.uuid4())


def test_a_retried_post_with_the_same_key_returns_the_first_answer_and_creates_nothing(
    api, table, queues
):
    idem = key()
    before, queued = table(), queues.depth("NormalQueueUrl")

    first = call(
        api, "POST", "/pre-diagnoses", body=request_body(), headers={"Idempotency-Key": idem}
    )
    again = call(
        api, "POST", "/pre-diagnoses", body=request_body(), headers={"Idempotency-Key": idem}
    )

    assert (first["statusCode"], again["statusCode"]) == (201, 201)
    assert body_of(again) == body_of(first)
    assert header(again, "Location") == header(first, "Location")
    assert header(first, "Idempotent-Replayed") is None
    assert header(again, "Idempotent-Replayed") == "true"
    assert table() == before + 1
    assert queues.depth("NormalQueueUrl") == queued + 1


def test_the_idempotency_key_holds_across_execution_environments(invoke, table):
    idem, before = key(), table()

    first = call(invoke("submit"), "POST", "/pre-diagnoses", body=request_body(),
                 headers={"Idempotency-Key": idem})  # fmt: skip
    again = call(invoke("submit"), "POST", "/pre-diagnoses", body=request_body(),
                 headers={"Idempotency-Key": idem})  # fmt: skip

    assert body_of(again)["id"] == body_of(first)["id"]
    assert table() == before + 1


def test_the_same_key_with_another_body_is_a_422_and_stores_nothing(api, table):
    idem = key()
    call(api, "POST", "/pre-diagnoses", body=request_body(), headers={"Idempotency-Key": idem})
    before = table()

    response = call(
        api,
        "POST",
        "/pre-diagnoses",
        body=request_body(description="A different story entirely."),
        headers={"Idempotency-Key": idem},
    )

    assert response["statusCode"] == 422
    assert [e["field"] for e in body_of(response)["errors"]] == ["Idempotency-Key"]
    assert table() == before


def test_the_same_key_from_another_caller_is_another_submission(api):
    idem = key()
    mine = call(api, "POST", "/pre-diagnoses", body=request_body(),
                headers={"Idempotency-Key": idem}, user=new_owner())  # fmt: skip
    theirs = call(api, "POST", "/pre-diagnoses", body=request_body(),
                  headers={"Idempotency-Key": idem}, user=new_owner())  # fmt: skip

    assert (mine["statusCode"], theirs["statusCode"]) == (201, 201)
    assert body_of(mine)["id"] != body_of(theirs)["id"]
    assert header(theirs, "Idempotent-Replayed") is None


def test_a_503_is_not_kept_as_the_idempotent_answer(invoke, stack, monkeypatch):
    idem = key()
    monkeypatch.setenv("NORMAL_QUEUE_URL", stack.outputs["NormalQueueUrl"] + "-gone")
    wiring.reset()
    failed = call(invoke("submit"), "POST", "/pre-diagnoses", body=request_body(),
                  headers={"Idempotency-Key": idem})  # fmt: skip
    monkeypatch.setenv("NORMAL_QUEUE_URL", stack.outputs["NormalQueueUrl"])
    wiring.reset()

    retried = call(invoke("submit"), "POST", "/pre-diagnoses", body=request_body(),
                   headers={"Idempotency-Key": idem})  # fmt: skip

    assert (failed["statusCode"], retried["statusCode"]) == (503, 201)
    assert header(retried, "Idempotent-Replayed") is None
    record = wiring.repository().get(body_of(retried)["id"])
    assert record is not None
    assert record.status.value == "pending"


@pytest.mark.parametrize("value", ["short", "x" * 129, "has space in it", "semi;colon;key"])
def test_a_malformed_idempotency_key_is_a_422_naming_the_header(api, table, value):
    before = table()
    response = call(api, "POST", "/pre-diagnoses", body=request_body(),
                    headers={"Idempotency-Key": value})  # fmt: skip

    assert response["statusCode"] == 422
    assert body_of(response)["errors"][0]["in"] == "header"
    assert "idempotency-key" in body_of(response)["message"].lower()
    assert table() == before


# ---------------------------------------------------------------------- body limits
def test_a_body_over_64_kib_is_a_413_and_stores_nothing(api, table):
    before = table()
    oversized = json.dumps({**request_body(), "padding": "x" * (64 * 1024)})

    response = call(api, "POST", "/pre-diagnoses", raw=oversized)

    assert response["statusCode"] == 413
    assert "limit is 65536 bytes" in body_of(response)["message"]
    assert table() == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        None,
    ],
    ids=["text", "form", "multipart", "latin-1", "missing"],
)
def test_a_body_that_is_not_application_json_is_a_415_naming_content_type(api, table, content_type):
    before = table()
    response = call(api, "POST", "/pre-diagnoses", body=request_body(),
                    headers={"Content-Type": content_type})  # fmt: skip

    assert response["statusCode"] == 415
    assert body_of(response)["errors"][0]["field"] == "Content-Type"
    assert table() == before


def test_json_with_an_explicit_utf8_charset_is_accepted(api):
    response = call(api, "POST", "/pre-diagnoses", body=request_body(),
                    headers={"Content-Type": "Application/JSON; charset=UTF-8"})  # fmt: skip
    assert response["statusCode"] == 201


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"pet": {', "Malformed JSON at line 1"),
        ('{"pet": NaN}', "NaN is not a JSON number"),
        ('{"onset": "unknown", "onset": "unknown"}', "same key twice"),
        ('{"x": 1e999}', "out of range"),
        ('{"x": ' + "9" * 5000 + "}", "out of range"),
        ("[" * 20000 + "]" * 20000, "nested deeper than 32 levels"),
        ('{"a":' * 40 + "1" + "}" * 40, "nested deeper than 32 levels"),
    ],
    ids=["truncated", "nan", "duplicate-key", "infinite", "huge-integer", "deep-array", "deep"],
)
def test_a_body_that_is_not_standard_json_is_a_400_saying_why(api, table, raw, words):
    before = table()
    response = call(api, "POST", "/pre-diagnoses", raw=raw)

    assert response["statusCode"] == 400
    assert words in body_of(response)["message"]
    assert table() == before


@pytest.mark.parametrize("raw", ["null", '"text"', "[]", "[null, null]"], ids=str)
def test_a_body_that_is_not_a_json_object_is_a_422(api, table, raw):
    before = table()
    response = call(api, "POST", "/pre-diagnoses", raw=raw)

    assert response["statusCode"] == 422
    assert body_of(response)["errors"][0]["type"] == "body_not_object"
    assert table() == before


def test_an_array_wrapping_a_valid_case_is_refused_not_unwrapped(api, table):
    before = table()
    response = call(api, "POST", "/pre-diagnoses", raw=json.dumps([request_body()]))

    assert response["statusCode"] == 422
    assert table() == before


def test_a_body_that_is_not_utf8_is_a_400(api, table):
    before = table()
    response = call(
        api, "POST", "/pre-diagnoses", raw='{"description": "caf\xe9"}', base64_body=True
    )

    assert response["statusCode"] == 400
    assert body_of(response)["errors"][0]["type"] == "body_encoding"
    assert table() == before


def nested(path: str, value: Any) -> dict[str, Any]:
    body = request_body()
    node = body
    *parents, leaf = path.split(".")
    for name in parents:
        node[name] = dict(node[name])
        node = node[name]
    node[leaf] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (nested("description", "x" * 4001), "description"),
        (nested("description", "   "), "description"),
        (nested("description", "bell \x07 in text"), "description"),
        (nested("symptoms", ["cough"] * 21), "symptoms"),
        (nested("symptoms", ["x" * 101]), "symptoms.0"),
        (nested("pet.name", "Moka\x00"), "pet.name"),
        (nested("pet.breed", "x" * 101), "pet.breed"),
        (nested("pet.ageYears", 61), "pet.ageYears"),
        (nested("pet.ageYears", -1), "pet.ageYears"),
        (nested("pet.weightKg", 0), "pet.weightKg"),
        (nested("pet.species", "dragon"), "pet.species"),
        (nested("pet.id", "../../etc"), "pet.id"),
        (nested("ownerLocale", "de"), "ownerLocale"),
        (nested("priority", "vip"), "priority"),
        (nested("clinicId", "x" * 65), "clinicId"),
        ({**request_body(), "isAdmin": True}, "isAdmin"),
        (nested("pet.owner", "me"), "pet.owner"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_each_field_limit_is_a_422_naming_the_field_and_stores_nothing(
    api, table, queues, body, field
):
    before, queued = table(), queues.depth("NormalQueueUrl")

    response = call(api, "POST", "/pre-diagnoses", body=body)

    assert response["statusCode"] == 422
    assert field in [e["field"] for e in body_of(response)["errors"]]
    assert table() == before
    assert queues.depth("NormalQueueUrl") == queued


TEXT_FIELDS = {"pet.name": False, "pet.breed": False, "symptoms": False, "description": True}
# one of each class the text rule refuses (tests/unit/test_text_fields.py has them all)
NOT_TEXT = [
    "\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\xad", "\u061c", "\u200b",
    "\u200d", "\u200e", "\u202e", "\u2066", "\ufeff", "\U000e0001", "\u2028", "\u2029",
    "\ufdd0", "\ufffe", "\uffff", "\U0001fffe", "\U0010ffff",
]  # fmt: skip


@pytest.mark.parametrize("field", list(TEXT_FIELDS))
def test_every_text_field_refuses_every_class_of_non_text_over_the_api(api, table, field):
    before, refused = table(), []
    for char in NOT_TEXT:
        if TEXT_FIELDS[field] and char in "\t\n\r":
            continue  # the description keeps tabs and line breaks
        value = f"Lab{char}rador"
        body = nested(field, [value] if field == "symptoms" else value)
        # escaped (\\u0085) and, where JSON allows it, as the raw UTF-8 character
        sent = [json.dumps(body)] + ([json.dumps(body, ensure_ascii=False)] if char >= " " else [])
        answers = [call(api, "POST", "/pre-diagnoses", raw=raw) for raw in sent]
        if all(
            a["statusCode"] == 422
            and [e["type"] for e in body_of(a)["errors"]] == ["forbidden_character"]
            for a in answers
        ):
            refused.append(char)
        for answer in answers:
            assert body_of(answer)["errors"][0]["field"] == (
                field + ".0" if field == "symptoms" else field
            )
            assert "Lab" not in answer["body"]  # never the owner's words
    expected = [c for c in NOT_TEXT if not (TEXT_FIELDS[field] and c in "\t\n\r")]
    assert refused == expected
    assert table() == before


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"], ids=str)
def test_a_json_body_that_is_not_an_object_is_a_422(api, raw):
    response = call(api, "POST", "/pre-diagnoses", raw=raw)
    assert response["statusCode"] == 422


def test_validation_errors_never_echo_the_owners_words(api):
    words = "My neighbour Jane Doe at 12 Rue Exemple said the dog ate rat poison"
    body = nested("description", (words + " ") * 80)  # over 4000 characters
    body["pet"] = {**body["pet"], "species": words}

    response = call(api, "POST", "/pre-diagnoses", body=body)

    assert response["statusCode"] == 422
    assert {"description", "pet.species"} <= {e["field"] for e in body_of(response)["errors"]}
    assert "Jane Doe" not in response["body"]


# ---------------------------------------------------------------------- data protection
class Captured(logging.Handler):
    """Every log record, with its extra fields and exception text, as one string."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = {k: v for k, v in record.__dict__.items() if k not in ("args", "exc_info")}
        text = json.dumps(fields, default=str)
        service = logging.getLogger("prediag").handlers[0].formatter
        if service is not None:  # the JSON line the service writes to CloudWatch
            text += "\n" + service.format(record)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def captured_logs(stack: Any) -> Iterator[Captured]:
    """Every record of every logger (the service's and the libraries'), at DEBUG."""
    Logger(service="prediag")  # the service logger keeps its own JSON handler first
    handler = Captured()
    loggers = [logging.getLogger(), logging.getLogger("prediag")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_the_logs_of_a_submit_never_hold_the_owners_words_or_contact(
    invoke, stack, monkeypatch, captured_logs
):
    words = "Moka swallowed my grandmother's pills; call me on 06 12 34 56 78"
    accepted = request_body(description=words)
    invalid = {**request_body(description=words), "onset": "yesterday"}
    api = invoke("submit")
    ok = call(api, "POST", "/pre-diagnoses", body=accepted, headers={"Idempotency-Key": key()})
    refused = call(api, "POST", "/pre-diagnoses", body=invalid)
    for lane in ("NORMAL", "URGENT"):
        monkeypatch.setenv(f"{lane}_QUEUE_URL", stack.outputs[f"{lane.title()}QueueUrl"] + "-gone")
    wiring.reset()
    failed = call(invoke("submit"), "POST", "/pre-diagnoses", body=accepted)

    assert (ok["statusCode"], refused["statusCode"], failed["statusCode"]) == (201, 422, 503)
    logged = captured_logs.text()
    assert body_of(ok)["id"] in logged  # the submit was logged, by id
    assert "Invalid request" in logged
    for secret in ("grandmother", "06 12 34 56 78", "owner@example.com"):
        assert secret not in logged


def test_answers_carry_no_store_and_nosniff(api):
    ok = call(api, "GET", "/pre-diagnoses", query={}, user=new_owner())
    invalid = call(api, "GET", "/pre-diagnoses", query={"limit": "0"}, user=new_owner())
    refused = call(api, "POST", "/pre-diagnoses", raw="{", user=new_owner())

    for response in (ok, invalid, refused):
        assert header(response, "Cache-Control") == "no-store"
        assert header(response, "X-Content-Type-Options") == "nosniff"


def test_cors_headers_go_to_the_allowed_origin_only(api, stack):
    allowed = stack.parameters["CorsAllowedOrigin"]

    ours = call(api, "GET", "/pre-diagnoses", query={}, headers={"Origin": allowed})
    foreign = call(
        api, "GET", "/pre-diagnoses", query={}, headers={"Origin": "https://evil.example"}
    )
    refused = call(api, "POST", "/pre-diagnoses", raw="{", headers={"Origin": allowed})

    assert header(ours, "Access-Control-Allow-Origin") == allowed
    assert header(refused, "Access-Control-Allow-Origin") == allowed
    assert header(foreign, "Access-Control-Allow-Origin") is None


def test_a_preflight_is_answered_with_the_cors_headers_and_no_body(api, stack):
    allowed = stack.parameters["CorsAllowedOrigin"]

    asking = {"Origin": allowed, "Access-Control-Request-Method": "POST"}

    preflight = call(api, "OPTIONS", "/pre-diagnoses", user=None, headers=asking)

    assert (preflight["statusCode"], preflight["body"]) == (204, "")
    assert header(preflight, "Access-Control-Allow-Origin") == allowed
    assert "Idempotency-Key" in (header(preflight, "Access-Control-Allow-Headers") or "")
    assert "POST" in (header(preflight, "Access-Control-Allow-Methods") or "")
    assert header(preflight, "Cache-Control") == "no-store"


# ---------------------------------------------------------------------- documentation, console
@pytest.mark.parametrize("who", [{"user": None}, {"user": "owner-1"}], ids=["anonymous", "owner"])
def test_swagger_ui_and_the_console_are_the_same_static_pages_for_everyone(api, who):
    page = call(api, "GET", "/swagger", **who)
    spec = call(api, "GET", "/swagger", query={"format": "json"}, **who)
    console = call(api, "GET", "/console", **who)

    assert page["statusCode"] == console["statusCode"] == 200
    assert 'id="swagger-ui"' in page["body"]
    assert "/admin/jobs" in body_of(spec)["paths"]
    assert 'id="jobs-table"' in console["body"]
    for answer in (page, console):
        assert header(answer, "Content-Type").startswith("text/html")
        assert "<script>" not in answer["body"]  # every script is a file the CSP allows
        assert header(answer, "X-Frame-Options") == "DENY"
        csp = header(answer, "Content-Security-Policy")
        assert "default-src 'self'" in csp and "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe" not in csp


def test_the_console_serves_only_its_own_assets_and_swagger_ui_from_the_api(api):
    for name, kind in [
        ("console.js", "text/javascript"),
        ("auth.js", "text/javascript"),
        ("console.css", "text/css"),
        ("swagger-ui-bundle.min.js", "text/javascript"),
        ("swagger-ui.min.css", "text/css"),
    ]:
        answer = call(api, "GET", f"/console/{name}", user=None)
        assert answer["statusCode"] == 200, name
        assert header(answer, "Content-Type").startswith(kind)
    for name in ("index.html", "..%2Fapp.py", "app.py", "nope.js"):
        assert call(api, "GET", f"/console/{name}", user=None)["statusCode"] == 404
    # pages hold no data: the token never reaches them, and they name no other origin
    body = call(api, "GET", "/console/console.js", user=None)["body"]
    assert "http://" not in body and "https://" not in body


def test_the_console_page_carries_the_sign_in_settings_escaped(api, monkeypatch):
    monkeypatch.setenv("CONSOLE_LOGIN_DOMAIN", 'login.example"><script>')
    monkeypatch.setenv("DASHBOARD_URL", "https://dash.example/#x")
    page = call(api, "GET", "/console", user=None)["body"]
    assert 'data-login-domain="login.example&quot;&gt;&lt;script&gt;"' in page
    assert 'data-dashboard="https://dash.example/#x"' in page


def test_an_unknown_query_parameter_is_a_422_naming_it(api):
    response = call(api, "GET", "/pre-diagnoses", query={"clinicID": "clinic-lyon-01"}, **ADMIN)

    assert response["statusCode"] == 422
    errors = body_of(response)["errors"]
    assert [(e["field"], e["in"], e["type"]) for e in errors] == [
        ("clinicID", "query", "extra_forbidden")
    ]


def test_a_percent_encoded_id_in_the_path_is_decoded_as_api_gateway_decodes_path_parameters(api):
    owner = new_owner()
    record_id = submit(api, owner)
    encoded = record_id.replace("-", "%2D")  # API Gateway passes the path as it was sent

    response = call(api, "GET", f"/pre-diagnoses/{encoded}", user=owner)

    assert response["statusCode"] == 200, response["body"]
    assert body_of(response)["id"] == record_id
