"""What a signed-in user may do to others, against moto: a case names a registered, active
clinic; a vet acts for a registered, active clinic only; each owner has a quota of
submissions per rolling window (429 with Retry-After past it), taken by one conditional write,
exact under concurrency, and used by nothing but accepted submissions."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from prediag import clinics, wiring
from prediag.clinics import ClinicChange
from prediag.errors import QuotaExceededError
from prediag.quota import DynamoSubmissionQuota, QuotaPolicy
from tests.integration.support import Lambda, api_event, header, register_clinic, request_body

ADMIN = {"user": "admin-1", "groups": "admins"}


def new_owner() -> str:
    return f"owner-{uuid.uuid4()}"


def new_clinic() -> str:
    return f"clinic-{uuid.uuid4().hex[:10]}"


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@pytest.fixture
def api(invoke: Callable[[str], Lambda]) -> Lambda:
    return invoke("submit")


@pytest.fixture
def quota_of(stack: Any) -> Callable[[int, int], DynamoSubmissionQuota]:
    table = str(stack.outputs["QuotaTableName"])
    return lambda limit, window: DynamoSubmissionQuota(table, QuotaPolicy(limit, window))


@pytest.fixture
def set_quota(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """The API function's quota: `limit` submissions per `window` seconds."""

    def apply(limit: int, window: int = 3600) -> None:
        monkeypatch.setenv("SUBMISSIONS_PER_OWNER_PER_HOUR", str(limit))
        monkeypatch.setenv("QUOTA_WINDOW_SECONDS", str(window))
        wiring.reset()

    return apply


def post(api: Lambda, owner: str, *, key: str | None = None, **changes: Any) -> dict[str, Any]:
    event = api_event("POST", "/pre-diagnoses", body=request_body(**changes), user=owner)
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
        event["multiValueHeaders"]["Idempotency-Key"] = [key]
    result: dict[str, Any] = api(event)
    return result


def records_of(stack: Any, owner: str) -> int:
    res = boto3.client("dynamodb").query(
        TableName=str(stack.outputs["PreDiagnosesTableName"]),
        IndexName="byUser",
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"S": owner}},
        Select="COUNT",
    )
    return int(res["Count"])


# ---------------------------------------------------------------------- registered clinics
def test_a_case_for_an_unregistered_clinic_is_a_422_naming_clinic_id_and_stores_nothing(
    api, stack, quota_of
):
    owner = new_owner()

    response = post(api, owner, clinicId=new_clinic())

    assert response["statusCode"] == 422
    assert body_of(response)["errors"] == [
        {
            "field": "clinicId",
            "in": "body",
            "type": "value_error",
            "message": "clinicId is not a registered, active clinic",
        }
    ]
    assert records_of(stack, owner) == 0
    assert quota_of(20, 3600).used(owner, datetime.now(UTC)) == 0


def test_an_inactive_clinic_takes_no_case_until_it_is_active_again(api):
    clinic, owner = new_clinic(), new_owner()
    register_clinic(clinic, active=False)

    refused = post(api, owner, clinicId=clinic)
    clinics.change(wiring.clinics(), clinic, ClinicChange(active=True))
    accepted = post(api, owner, clinicId=clinic)

    assert (refused["statusCode"], accepted["statusCode"]) == (422, 201)
    assert body_of(refused)["errors"][0]["field"] == "clinicId"


def test_a_vet_of_a_deactivated_clinic_reads_and_lists_none_of_its_records(api):
    clinic, owner = new_clinic(), new_owner()
    register_clinic(clinic)
    record_id = body_of(post(api, owner, clinicId=clinic))["id"]
    vet = {"user": "vet-of-" + clinic, "groups": "vets", "clinic": clinic}
    read = api_event("GET", f"/pre-diagnoses/{record_id}", **vet)
    listing = api_event("GET", "/pre-diagnoses", **vet)

    before = (api(read)["statusCode"], api(listing)["statusCode"])
    clinics.change(wiring.clinics(), clinic, ClinicChange(active=False))
    inactive_read, inactive_list = api(read), api(listing)
    by_owner = api(api_event("GET", f"/pre-diagnoses/{record_id}", user=owner))
    by_admin = api(api_event("GET", f"/pre-diagnoses/{record_id}", **ADMIN))

    assert before == (200, 200)
    assert inactive_read["statusCode"] == 404
    assert inactive_list["statusCode"] == 403
    assert "not a registered, active clinic" in body_of(inactive_list)["message"]
    assert (by_owner["statusCode"], by_admin["statusCode"]) == (200, 200)


def test_a_vet_whose_clinic_was_never_registered_sees_nothing_of_any_clinic(api):
    clinic = new_clinic()
    vet = {"user": "vet-nowhere", "groups": "vets", "clinic": clinic}

    listing = api(api_event("GET", "/pre-diagnoses", **vet))
    event = api_event("GET", "/pre-diagnoses", **vet)
    event["queryStringParameters"] = {"clinicId": clinic}
    event["multiValueQueryStringParameters"] = {"clinicId": [clinic]}
    filtered = api(event)

    assert (listing["statusCode"], filtered["statusCode"]) == (403, 403)


def test_the_admin_routes_register_list_read_and_deactivate_clinics_for_admins_only(api):
    clinic = new_clinic()

    def register(body: dict[str, Any], **who: Any) -> dict[str, Any]:
        result: dict[str, Any] = api(api_event("POST", "/admin/clinics", body=body, **who))
        return result

    created = register({"clinicId": clinic, "name": "Du Parc"}, **ADMIN)
    again = register({"clinicId": clinic, "name": "X"}, **ADMIN)
    by_owner = register({"clinicId": new_clinic(), "name": "Y"})
    listed = api(api_event("GET", "/admin/clinics", **ADMIN))
    off = api(api_event("POST", f"/admin/clinics/{clinic}", body={"active": False}, **ADMIN))
    read = api(api_event("GET", f"/admin/clinics/{clinic}", **ADMIN))
    missing = api(api_event("GET", f"/admin/clinics/{new_clinic()}", **ADMIN))
    empty = api(api_event("POST", f"/admin/clinics/{clinic}", body={}, **ADMIN))

    assert created["statusCode"] == 201, created["body"]
    assert body_of(created)["clinicId"] == clinic and body_of(created)["active"] is True
    assert again["statusCode"] == 409
    assert by_owner["statusCode"] == 403
    assert clinic in [c["clinicId"] for c in body_of(listed)["items"]]
    assert (off["statusCode"], body_of(off)["active"]) == (200, False)
    assert (read["statusCode"], body_of(read)["name"]) == (200, "Du Parc")
    assert (missing["statusCode"], empty["statusCode"]) == (404, 422)


# ---------------------------------------------------------------------- the quota
def test_the_quota_answers_429_with_retry_after_at_the_limit_and_accepts_after_the_window(
    api, stack, set_quota
):
    set_quota(3, window=2)
    owner = new_owner()

    accepted = [post(api, owner)["statusCode"] for _ in range(3)]
    started = datetime.now(UTC)
    over = post(api, owner)
    body = body_of(over)
    retry_at = datetime.fromisoformat(body["retryAt"])
    time.sleep(max(0.0, (retry_at - datetime.now(UTC)).total_seconds()) + 0.05)
    after = post(api, owner)

    assert accepted == [201, 201, 201]
    assert over["statusCode"] == 429
    assert header(over, "Retry-After") == str(body["retryAfterSeconds"])
    assert 1 <= body["retryAfterSeconds"] <= 3  # whole seconds, rounded up
    assert started < retry_at <= started + timedelta(seconds=4)
    assert "at most 3 submissions per 2 seconds" in body["message"]
    assert after["statusCode"] == 201
    assert records_of(stack, owner) == 4


def test_the_window_rolls_each_submission_frees_its_slot_one_window_after_it(quota_of):
    quota, owner = quota_of(3, 3600), new_owner()
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    minutes = [0, 10, 20]

    for m in minutes:
        quota.take(owner, t0 + timedelta(minutes=m))
    with pytest.raises(QuotaExceededError) as full:
        quota.take(owner, t0 + timedelta(minutes=59, seconds=59))
    quota.take(owner, t0 + timedelta(minutes=60))  # the 12:00 one has left the window
    with pytest.raises(QuotaExceededError) as still_full:
        quota.take(owner, t0 + timedelta(minutes=65))

    assert full.value.retry_at == t0 + timedelta(minutes=60)
    assert still_full.value.retry_at == t0 + timedelta(minutes=70)  # rolling, not fixed
    assert quota.used(owner, t0 + timedelta(minutes=65)) == 3


def test_the_quota_is_per_owner(api, set_quota):
    set_quota(1)
    first, second = new_owner(), new_owner()

    statuses = [post(api, first), post(api, second), post(api, first)]

    assert [r["statusCode"] for r in statuses] == [201, 201, 429]


def test_concurrent_takes_at_the_boundary_grant_exactly_the_limit(quota_of):
    quota, owner = quota_of(7, 3600), new_owner()
    now = datetime.now(UTC)

    def take(i: int) -> str:
        try:
            quota.take(owner, now + timedelta(milliseconds=i))
        except QuotaExceededError:
            return "refused"
        return "granted"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(take, range(20)))

    assert outcomes == {"granted": 7, "refused": 13}
    assert quota.used(owner, now + timedelta(seconds=1)) == 7


def test_concurrent_submissions_at_the_limit_accept_exactly_the_limit(api, stack, set_quota):
    set_quota(4)
    owner = new_owner()

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = Counter(pool.map(lambda _: post(api, owner)["statusCode"], range(10)))

    assert statuses == {201: 4, 429: 6}
    assert records_of(stack, owner) == 4


def test_a_replayed_submission_uses_no_quota(api, set_quota):
    set_quota(2)
    owner, key = new_owner(), str(uuid.uuid4())

    first = post(api, owner, key=key)
    replays = [post(api, owner, key=key) for _ in range(3)]
    second = post(api, owner)
    third = post(api, owner)

    assert first["statusCode"] == 201
    assert [header(r, "Idempotent-Replayed") for r in replays] == ["true"] * 3
    assert {body_of(r)["id"] for r in replays} == {body_of(first)["id"]}
    assert (second["statusCode"], third["statusCode"]) == (201, 429)


def test_refused_requests_use_no_quota(api, set_quota):
    set_quota(1)
    owner = new_owner()

    invalid = post(api, owner, symptoms=[])
    unknown_clinic = post(api, owner, clinicId=new_clinic())
    control = post(api, owner, description="Vomits\u2028twice")
    accepted = post(api, owner)

    assert [r["statusCode"] for r in (invalid, unknown_clinic, control)] == [422, 422, 422]
    assert accepted["statusCode"] == 201


def test_a_submission_the_queue_refused_gives_its_quota_back(api, stack, set_quota, monkeypatch):
    set_quota(1)
    owner = new_owner()
    monkeypatch.setenv("NORMAL_QUEUE_URL", stack.outputs["NormalQueueUrl"] + "-gone")
    wiring.reset()
    unavailable = post(api, owner)
    monkeypatch.setenv("NORMAL_QUEUE_URL", stack.outputs["NormalQueueUrl"])
    wiring.reset()

    accepted = post(api, owner)

    assert (unavailable["statusCode"], accepted["statusCode"]) == (503, 201)


def test_a_429_stores_nothing_and_says_when_in_seconds_and_as_a_date(api, stack, set_quota):
    set_quota(1)
    owner = new_owner()
    post(api, owner)

    over = post(api, owner)

    assert over["statusCode"] == 429
    assert records_of(stack, owner) == 1
    seconds = int(header(over, "Retry-After") or 0)
    assert 3500 <= seconds <= 3601
    at = datetime.fromisoformat(body_of(over)["retryAt"])
    assert abs((at - datetime.now(UTC)).total_seconds() - seconds) <= 2
