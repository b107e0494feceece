"""Jobs for operators against moto: the listing (merged status partitions, filters, cursor),
one job with the notifications sent, and the routes GET /admin/jobs and /admin/jobs/{id}."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from itertools import cycle

import boto3
import pytest

from prediag import ops, wiring
from prediag.errors import InvalidRequestError
from prediag.models import Lane, PreDiagnosis, SentNotification, Status, utcnow
from prediag.repository import DynamoRepository
from prediag_tools.local import Provisioned, provision
from prediag_tools.local.demo_clinic import seed_demo_clinic
from tests.conftest import REGION, TEMPLATE
from tests.integration.support import api_event, request_body

ADMIN = {"user": "admin-1", "groups": "admins"}


@pytest.fixture
def provisioned(moto_endpoint: str) -> Provisioned:
    """A table of each test's own: the listings count every record in it."""
    stage = "j" + secrets.token_hex(4)
    stack = provision(TEMPLATE, moto_endpoint, parameters={"Stage": stage}, region=REGION)
    seed_demo_clinic(stack)
    return stack


def _submit(invoke) -> str:
    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body()))
    assert res["statusCode"] == 201, res
    return str(json.loads(res["body"])["id"])


@pytest.fixture
def repo(stack: Provisioned) -> DynamoRepository:
    return DynamoRepository(str(stack.outputs["PreDiagnosesTableName"]), boto3.client("dynamodb"))


@pytest.fixture
def records(invoke, repo: DynamoRepository) -> list[PreDiagnosis]:
    """13 records a second apart, oldest first: statuses, lanes and clinics cycling."""
    model = repo.get(_submit(invoke))
    assert model is not None
    start = utcnow() - timedelta(hours=1)
    statuses = cycle([Status.FAILED, Status.COMPLETED, Status.PENDING, Status.PROCESSING])
    lanes = cycle([Lane.NORMAL, Lane.URGENT, Lane.NORMAL])
    made = []
    for n, status, lane in zip(range(13), statuses, lanes, strict=False):
        record = model.model_copy(
            update={
                "id": f"job-{n:02d}-{secrets.token_hex(2)}",
                "created_at": start + timedelta(seconds=n),
                "updated_at": start + timedelta(seconds=n),
                "status": status,
                "lane": lane,
                "clinic_id": "clinic-a" if n % 2 else "clinic-b",
                "failure_reason": "no AI provider answered" if status is Status.FAILED else None,
            }
        )
        repo.create(record)
        made.append(record)
    repo.client.delete_item(TableName=repo.table_name, Key={"id": {"S": model.id}})
    return made


def _walk(repo: DynamoRepository, query: ops.JobQuery, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = ops.list_jobs(repo, query, limit=limit, cursor=cursor)
        pages.append([job.id for job in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_every_job_is_listed_once_newest_first_across_the_status_partitions(repo, records):
    pages = _walk(repo, ops.JobQuery(), limit=4)

    assert [job for page in pages for job in page] == [r.id for r in reversed(records)]
    assert [len(page) for page in pages] == [4, 4, 4, 1]


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        (ops.JobQuery(status=Status.FAILED), lambda r: r.status is Status.FAILED),
        (ops.JobQuery(lane=Lane.URGENT), lambda r: r.lane is Lane.URGENT),
        (ops.JobQuery(clinic_id="clinic-a"), lambda r: r.clinic_id == "clinic-a"),
        (
            ops.JobQuery(clinic_id="clinic-b", status=Status.COMPLETED, lane=Lane.NORMAL),
            lambda r: (
                (r.clinic_id, r.status, r.lane) == ("clinic-b", Status.COMPLETED, Lane.NORMAL)
            ),
        ),
        (
            ops.JobQuery(status=Status.PENDING, lane=Lane.NORMAL),
            lambda r: (r.status, r.lane) == (Status.PENDING, Lane.NORMAL),
        ),
    ],
    ids=["status", "lane", "clinic", "clinic+status+lane", "status+lane"],
)
def test_filters_keep_the_matching_jobs_newest_first_over_every_page(repo, records, query, keep):
    pages = _walk(repo, query, limit=2)

    assert [job for page in pages for job in page] == [r.id for r in reversed(records) if keep(r)]


def test_since_keeps_the_jobs_created_at_or_after_it(repo, records):
    query = ops.JobQuery(since=records[9].created_at)

    listed = [job for page in _walk(repo, query, limit=3) for job in page]

    assert listed == [r.id for r in reversed(records[9:])]


def test_a_job_changing_status_between_two_pages_is_neither_repeated_nor_skipped(repo, records):
    first = ops.list_jobs(repo, limit=5)
    moved = records[3]  # on the next page, and in the processing partition
    assert moved.id not in [j.id for j in first.items]
    repo.client.update_item(
        TableName=repo.table_name,
        Key={"id": {"S": moved.id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "completed"}},
    )
    rest = [first.items[-1].id]
    cursor = first.next_cursor
    while cursor:
        page = ops.list_jobs(repo, limit=5, cursor=cursor)
        rest += [j.id for j in page.items]
        cursor = page.next_cursor

    listed = [j.id for j in first.items] + rest[1:]
    assert listed == [r.id for r in reversed(records)]


def test_a_cursor_is_refused_with_other_filters_or_when_tampered_with(repo, records):
    page = ops.list_jobs(repo, ops.JobQuery(status=Status.FAILED), limit=1)
    assert page.next_cursor

    with pytest.raises(InvalidRequestError):
        ops.list_jobs(repo, ops.JobQuery(status=Status.PENDING), cursor=page.next_cursor)
    with pytest.raises(InvalidRequestError):
        ops.list_jobs(repo, ops.JobQuery(status=Status.FAILED), cursor="bm90LWEtY3Vyc29y")


def test_a_summary_names_the_last_error_and_never_the_owners_words(repo, records):
    page = ops.list_jobs(repo, ops.JobQuery(status=Status.FAILED), limit=1)
    job = page.items[0]

    assert job.last_error == "no AI provider answered"
    assert (job.species.value, job.attempts) == ("dog", 0)
    assert "description" not in json.dumps(page.dump())
    assert records[0].request.description not in json.dumps(page.dump())


# ---------------------------------------------------------------------- routes and notifications
def test_admins_list_and_read_jobs_through_the_api_with_the_notifications_sent(
    invoke, queues, stream, vet_inbox
):
    job = _submit(invoke)
    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))
    invoke("notify")({"Records": stream.passing_filter(stream.read())})
    assert len(vet_inbox.messages()) == 1

    listed = invoke("submit")(
        api_event("GET", "/admin/jobs", **ADMIN)
        | {"queryStringParameters": {"status": "completed", "lane": "normal", "limit": "5"}}
    )
    read = invoke("submit")(api_event("GET", f"/admin/jobs/{job}", **ADMIN))
    missing = invoke("submit")(api_event("GET", "/admin/jobs/no-such-job", **ADMIN))

    assert listed["statusCode"] == 200, listed
    assert [j["id"] for j in json.loads(listed["body"])["items"]] == [job]
    assert read["statusCode"] == 200, read
    detail = json.loads(read["body"])
    assert detail["request"]["pet"]["species"] == "dog"
    assert [a["outcome"] for a in detail["attempts"]] == ["succeeded"]
    assert [(n["kind"], n["status"], n["version"]) for n in detail["notifications"]] == [
        ("completed", "completed", 3)
    ]
    assert detail["notifications"][0]["messageId"]
    assert missing["statusCode"] == 404
    # the owner's own read of the record is unchanged: the notifications are for operators
    owner = invoke("submit")(api_event("GET", f"/pre-diagnoses/{job}"))
    assert "notifications" not in json.loads(owner["body"])


def test_a_bad_filter_or_cursor_is_a_422_naming_it(invoke):
    for query, field in [
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"clinicID": "x"}, "clinicID"),
    ]:
        answer = invoke("submit")(
            api_event("GET", "/admin/jobs", **ADMIN) | {"queryStringParameters": query}
        )
        assert answer["statusCode"] == 422, (query, answer)
        assert [e["field"] for e in json.loads(answer["body"])["errors"]] == [field]


def test_noting_a_notification_changes_neither_status_nor_version(invoke, repo):
    job = _submit(invoke)
    before = repo.get(job)
    assert before is not None
    repo.note_notification(
        job,
        SentNotification(
            kind="red_flag",
            status=before.status,
            urgency=before.urgency,
            version=before.version,
            sent_at=utcnow(),
            message_id="m-1",
        ),
    )

    after = repo.get(job)
    assert after is not None
    assert (after.status, after.version, after.updated_at) == (
        before.status,
        before.version,
        before.updated_at,
    )
    assert [n.message_id for n in after.notifications] == ["m-1"]
    assert "notifications" not in after.dump()  # never in the owner's or the vet's answer
    assert wiring.repository().get(job) == after
