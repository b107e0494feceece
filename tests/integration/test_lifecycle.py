"""The life of a pre-diagnosis, owned by its record: redrives that race, dead letters that match
the failed records exactly, refused submissions, obsolete and duplicate deliveries."""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from prediag import notification, ops, submission, wiring
from prediag.access import Caller
from prediag.analysis import run_attempt
from prediag.items import record_from_item
from prediag.models import PreDiagnosisRequest, QueueMessage, Status
from tests.fakes import FAKE_OPENAI_KEY, Behaviour, FakeSet, start_fakes
from tests.integration.support import OWNER, api_event, request_body

N_CONCURRENT = 8


def _submit(invoke, name: str = "request-normal.json") -> str:
    request = PreDiagnosisRequest.model_validate(request_body(name))
    accepted = submission.submit(
        request,
        Caller(user_id=OWNER),
        wiring.repository(),
        wiring.job_queue(),
        clinics=wiring.clinics(),
        quota=wiring.submission_quota(),
    )
    return accepted.id


def _break_ai(monkeypatch) -> None:
    """Every attempt fails at once: the only provider refuses connections (port 9)."""
    monkeypatch.setenv("AI_PROVIDERS", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AI_MAX_RETRIES", "0")
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", "0")
    wiring.reset()


def _heal_ai(monkeypatch) -> None:
    monkeypatch.setenv("AI_PROVIDERS", "")
    wiring.reset()


def _adapters() -> ops.Adapters:
    queue, repo = wiring.job_queue(), wiring.repository()
    topology = ops.Topology.from_settings(wiring.get_settings())
    return ops.Adapters.bind(topology, queue.client, repo.client)


def _run_lane(invoke, queues, output: str = "NormalQueueUrl", rounds: int = 12) -> None:
    """Deliver whatever the lane holds until it is empty (each receive is one attempt)."""
    for _ in range(rounds):
        batch = queues.receive(output, wait=1)
        if not batch:
            return
        invoke("analyze")(queues.event(output, batch))


def _fail(invoke, queues, monkeypatch, record_id: str) -> None:
    _break_ai(monkeypatch)
    _run_lane(invoke, queues)
    record = wiring.repository().get(record_id)
    assert record is not None and record.status is Status.FAILED, record
    assert record.dead_lettered


def _letters(queues, output: str = "NormalDlqUrl") -> list[dict]:
    """Every dead letter (read and made visible again at once)."""
    seen: dict[str, dict] = {}
    for _ in range(5):
        res = queues.sqs.receive_message(
            QueueUrl=queues.url(output), MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        for m in res.get("Messages", []):
            seen[m["MessageId"]] = json.loads(m["Body"])
    return list(seen.values())


def test_concurrent_redrives_of_one_failed_record_send_exactly_one_job(invoke, queues, monkeypatch):
    record_id = _submit(invoke)
    _fail(invoke, queues, monkeypatch, record_id)
    assert [letter["preDiagnosisId"] for letter in _letters(queues)] == [record_id]
    start = threading.Barrier(N_CONCURRENT)

    def redrive_once(_: int) -> ops.RedriveReport:
        adapters = _adapters()
        start.wait()
        return ops.redrive(adapters, ids=[record_id])

    with ThreadPoolExecutor(N_CONCURRENT) as pool:
        reports = list(pool.map(redrive_once, range(N_CONCURRENT)))

    actions = Counter(item.action for report in reports for item in report.items)
    assert actions == {"redriven": 1, "skipped": N_CONCURRENT - 1}
    record = wiring.repository().get(record_id)
    assert record is not None and (record.status, record.redrives) == (Status.PENDING, 1)
    jobs = queues.receive("NormalQueueUrl", wait=1)
    assert [
        (json.loads(m["Body"])["preDiagnosisId"], json.loads(m["Body"])["dispatch"]) for m in jobs
    ] == [(record_id, 1)]
    assert _letters(queues) == []  # the old dead letter went with the redrive

    _heal_ai(monkeypatch)
    invoke("analyze")(queues.event("NormalQueueUrl", jobs))
    done = wiring.repository().get(record_id)
    assert done is not None and done.status is Status.COMPLETED
    assert [a.outcome for a in done.attempts] == ["failed"] * 3 + ["succeeded"]


def test_concurrent_admin_redrive_calls_all_answer_200_and_analyze_once(
    invoke, queues, monkeypatch
):
    record_id = _submit(invoke)
    _fail(invoke, queues, monkeypatch, record_id)
    environments = [invoke("submit") for _ in range(N_CONCURRENT)]  # as Lambda scales out
    start = threading.Barrier(N_CONCURRENT)
    event = api_event("POST", "/admin/redrive", body={"ids": [record_id]}, groups="admins")

    def call(n: int) -> dict:
        start.wait()
        return environments[n](json.loads(json.dumps(event)))

    with ThreadPoolExecutor(N_CONCURRENT) as pool:
        answers = list(pool.map(call, range(N_CONCURRENT)))

    assert [a["statusCode"] for a in answers] == [200] * N_CONCURRENT
    actions = Counter(item["action"] for a in answers for item in json.loads(a["body"])["items"])
    assert actions == {"redriven": 1, "skipped": N_CONCURRENT - 1}
    assert len(queues.receive("NormalQueueUrl", wait=1)) == 1
    assert _letters(queues) == []


def test_a_redrive_before_the_dead_letter_has_landed_waits_and_leaves_no_stray_letter(
    invoke, queues, monkeypatch
):
    record_id = _submit(invoke)
    _break_ai(monkeypatch)
    for _ in range(2):
        _run_lane(invoke, queues, rounds=1)
    # the last attempt fails: the record is failed the moment its write lands, its job not yet
    # in the dead-letter queue
    batch = queues.receive("NormalQueueUrl", wait=2)
    job = json.loads(batch[0]["Body"])
    outcome = run_attempt(  # the domain step alone: the handler has not dead-lettered it yet
        QueueMessage.model_validate(job),
        3,
        repo=wiring.repository(),
        analyze=lambda *_: (_ for _ in ()).throw(RuntimeError("provider down")),
        remaining_ms=lambda: 60_000,
        policy=wiring.job_policy(),
    )
    assert outcome.action == "dead_letter"

    early = ops.redrive(_adapters(), ids=[record_id])
    assert [(i.action, i.reason) for i in early.items] == [
        ("skipped", "its job is on its way to the dead-letter queue; retry in a moment")
    ]

    invoke("analyze")(queues.event("NormalQueueUrl", batch))  # the handler dead-letters it
    assert [letter["preDiagnosisId"] for letter in _letters(queues)] == [record_id]
    late = ops.redrive(_adapters(), ids=[record_id])
    assert late.redriven == [record_id]
    assert _letters(queues) == []
    assert len(queues.receive("NormalQueueUrl", wait=1)) == 1


def test_dead_letters_are_exactly_the_failed_records_letters_after_random_fails_and_redrives(
    invoke, queues, monkeypatch
):
    rng = random.Random(20261130)
    ids = [_submit(invoke) for _ in range(4)]
    _break_ai(monkeypatch)
    for step in range(10):
        _run_lane(invoke, queues)
        failed = [i for i in ids if wiring.repository().get(i).status is Status.FAILED]
        if not failed:
            break
        choice = rng.random()
        if choice < 0.4:
            ops.redrive(_adapters(), ids=rng.sample(failed, k=rng.randint(1, len(failed))))
        elif choice < 0.7:
            ops.redrive(_adapters())
        else:  # some redriven jobs complete, the others keep failing
            _heal_ai(monkeypatch) if step % 2 else _break_ai(monkeypatch)
            ops.redrive(_adapters(), ids=[rng.choice(failed)])
        letters = _letters(queues)
        records = {i: wiring.repository().get(i) for i in ids}
        in_flight = queues.depth("NormalQueueUrl")
        if in_flight == 0:
            expected = sorted(i for i, r in records.items() if r.status is Status.FAILED)
            assert sorted(letter["preDiagnosisId"] for letter in letters) == expected
            for letter in letters:
                assert letter["dispatch"] == records[letter["preDiagnosisId"]].redrives
    _run_lane(invoke, queues)
    records = {i: wiring.repository().get(i) for i in ids}
    assert all(r.status in (Status.FAILED, Status.COMPLETED) for r in records.values())
    expected = sorted(i for i, r in records.items() if r.status is Status.FAILED)
    assert sorted(letter["preDiagnosisId"] for letter in _letters(queues)) == expected


def test_a_refused_submission_is_refused_never_failed_and_cannot_be_redriven(
    stack, invoke, queues, stream, vet_inbox, monkeypatch
):
    # the urgent lane is unreachable: the case (an immediate red flag) cannot be queued
    monkeypatch.setenv("URGENT_QUEUE_URL", queues.url("UrgentQueueUrl") + "-gone")
    wiring.reset()
    res = invoke("submit")(
        api_event("POST", "/pre-diagnoses", body=request_body("request-urgent.json"))
    )
    assert res["statusCode"] == 503, res
    [insert] = [r for r in stream.passing_filter(stream.read()) if r["eventName"] == "INSERT"]
    inserted = record_from_item(insert["dynamodb"]["NewImage"])
    record_id = inserted.id
    record = wiring.repository().get(record_id)
    assert record is not None and record.status is Status.REFUSED

    assert record_id not in [r.id for r in ops.list_by_status(wiring.repository(), Status.FAILED)]
    report = ops.redrive(_adapters(), ids=[record_id])
    assert [i.action for i in report.items] == ["skipped"]
    assert "never accepted" in (report.items[0].reason or "")
    assert wiring.repository().get(record_id).status is Status.REFUSED

    # its red flag (the INSERT passed the notify trigger's filter) is not announced
    assert notification.notify(inserted, wiring.notifier(), wiring.repository(), None) == (
        "skipped"
    )
    assert vet_inbox.messages(wait=0) == []


def test_a_job_obsolete_since_a_redrive_is_dropped_without_an_attempt(invoke, queues, monkeypatch):
    record_id = _submit(invoke)
    first_job = queues.receive("NormalQueueUrl", wait=1)
    _break_ai(monkeypatch)
    invoke("analyze")(queues.event("NormalQueueUrl", first_job))  # attempt 1 fails, retried
    _run_lane(invoke, queues)
    assert ops.redrive(_adapters(), ids=[record_id]).redriven == [record_id]
    before = wiring.repository().get(record_id)

    # the first job is delivered once more (a duplicate copy, say)
    result = invoke("analyze")(queues.event("NormalQueueUrl", first_job))

    assert result == {"batchItemFailures": []}
    assert wiring.repository().get(record_id) == before


def test_a_concurrent_duplicate_delivery_does_not_analyze_twice(invoke, queues):
    record_id = _submit(invoke)
    received = queues.receive("NormalQueueUrl", wait=1)
    batch = [m for m in received if json.loads(m["Body"])["preDiagnosisId"] == record_id]
    environments = [invoke("analyze") for _ in range(N_CONCURRENT)]  # as Lambda scales out
    start = threading.Barrier(N_CONCURRENT)

    def deliver(n: int) -> dict:
        start.wait()
        return environments[n](queues.event("NormalQueueUrl", batch))

    with ThreadPoolExecutor(N_CONCURRENT) as pool:
        results = list(pool.map(deliver, range(N_CONCURRENT)))

    record = wiring.repository().get(record_id)
    assert record is not None and record.status is Status.COMPLETED
    assert [a.outcome for a in record.attempts] == ["succeeded"]
    # one delivery analysed it; the others found it being analysed (busy) or finished (done)
    assert sum(1 for r in results if r == {"batchItemFailures": []}) >= 1
    assert all(len(r["batchItemFailures"]) <= 1 for r in results), results


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeSet]:
    with start_fakes() as started:
        yield started


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CAUSES = {
    # behaviour of the fake (None: nothing listens) -> (outcome, status code, error code)
    "connection refused": (None, ("connection_error", None, "ConnectionRefused")),
    "bad key": (Behaviour("unauthorized"), ("auth_error", 401, "invalid_api_key")),
    "rate limited": (
        Behaviour("rate_limit", retry_after_s=0.1),
        ("rate_limited", 429, "rate_limit_exceeded"),
    ),
    "timeout": (Behaviour("ok", delay_s=3), ("timeout", None, "ReadTimeout")),
}


@pytest.mark.parametrize("cause", list(CAUSES))
def test_each_provider_failure_reaches_the_record_and_the_log_with_its_cause(
    cause, invoke, queues, fakes, monkeypatch, caplog
):
    behaviour, expected = CAUSES[cause]
    fakes.reset()
    url = f"{fakes.openai.url}/v1" if behaviour else f"http://127.0.0.1:{_closed_port()}/v1"
    if behaviour:
        fakes.openai.set_default(behaviour)
    for key, value in {
        "AI_PROVIDERS": "openai",
        "OPENAI_API_KEY": FAKE_OPENAI_KEY,
        "OPENAI_BASE_URL": url,
        "AI_MAX_RETRIES": "1",
        "OPENAI_TIMEOUT_S": "1",
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    record_id = _submit(invoke)

    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl", wait=1)))

    record = wiring.repository().get(record_id)
    # a bad key fails at once (no retry can fix it); the others are retried later
    assert record is not None
    assert record.status is (Status.FAILED if cause == "bad key" else Status.PENDING)
    [attempt] = record.attempts
    [outcome] = attempt.providers
    assert (outcome.outcome, outcome.status_code, outcome.error_code) == expected
    assert outcome.provider == "openai" and outcome.error
    assert expected[0] in (attempt.error or "")
    assert FAKE_OPENAI_KEY not in record.model_dump_json()
    [logged] = [r for r in caplog.records if r.getMessage().startswith("The analysis of")]
    assert [(p["outcome"], p.get("status_code")) for p in logged.providers] == [expected[:2]]


def test_concurrent_conditional_writes_to_one_record_have_exactly_one_winner(stack):
    """The local moto serves DynamoDB's writes atomically, as AWS does (moto's own server lets
    two concurrent conditional writes of this shape both win, about once in 30 rounds): the
    record-as-lock tests above prove the pipeline, not moto's thread scheduling."""
    table, client = str(stack.outputs["PreDiagnosesTableName"]), wiring.repository().client
    attempt = {"L": [{"M": {"note": {"S": "x" * 2000}, "number": {"N": "1"}}}]}

    def winners(key: dict) -> int:
        start = threading.Barrier(20)

        def take(_: int) -> bool:
            start.wait()
            try:
                client.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET n = n + :one,"
                    " attempts = list_append(if_not_exists(attempts, :empty), :attempt)",
                    ConditionExpression="n = :zero OR (n = :one AND started < :stale)",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":zero": {"N": "0"},
                        ":stale": {"N": "5"},
                        ":empty": {"L": []},
                        ":attempt": attempt,
                    },
                )
            except client.exceptions.ConditionalCheckFailedException:
                return False
            return True

        with ThreadPoolExecutor(20) as pool:
            return sum(pool.map(take, range(20)))

    rounds = []
    for n in range(40):
        key = {"id": {"S": f"lock-probe-{n}-{random.random()}"}}
        client.put_item(TableName=table, Item={**key, "n": {"N": "0"}, "started": {"N": "9"}})
        rounds.append(winners(key))
        client.delete_item(TableName=table, Key=key)

    assert rounds == [1] * 40
