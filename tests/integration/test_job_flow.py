"""analyze and notify against moto: transitions, retries, dead letters, one notification each."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from prediag import wiring
from prediag.analysis import STRANDED_REASON
from prediag.models import Attempt, Status, utcnow
from tests.integration.support import api_event, request_body


def _submit(invoke, name: str = "request-normal.json") -> str:
    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body(name)))
    assert res["statusCode"] == 201, res
    return str(json.loads(res["body"])["id"])


def test_submit_analyze_notify_ends_completed_and_tells_the_vet_once(
    invoke, queues, stream, vet_inbox
):
    job = _submit(invoke)
    batch = queues.receive("NormalQueueUrl")

    result = invoke("analyze")(queues.event("NormalQueueUrl", batch))

    assert result == {"batchItemFailures": []}
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.COMPLETED
    assert record.analysis is not None
    assert record.analysis.urgency.rank <= record.triage.level.rank
    assert [a.outcome for a in record.attempts] == ["succeeded"]

    passing = stream.passing_filter(stream.read())
    assert [r["dynamodb"]["NewImage"]["status"]["S"] for r in passing] == ["completed"]
    assert invoke("notify")({"Records": passing}) == {"batchItemFailures": []}
    notes = vet_inbox.messages()
    assert len(notes) == 1
    note = json.loads(notes[0]["Message"])
    assert (note["id"], note["status"], note["kind"]) == (job, "completed", "completed")
    assert notes[0]["MessageAttributes"]["clinicId"]["Value"] == "clinic-lyon-01"
    assert "description" not in notes[0]["Message"]
    assert "will not eat" not in notes[0]["Message"]


def test_redelivered_finished_message_changes_nothing_and_notifies_nothing(
    invoke, queues, stream, vet_inbox
):
    job = _submit(invoke)
    batch = queues.receive("NormalQueueUrl")
    invoke("analyze")(queues.event("NormalQueueUrl", batch))
    invoke("notify")({"Records": stream.passing_filter(stream.read())})
    assert len(vet_inbox.messages()) == 1
    finished = wiring.repository().get(job)

    again = invoke("analyze")(queues.event("NormalQueueUrl", batch))

    assert again == {"batchItemFailures": []}
    assert wiring.repository().get(job) == finished
    assert stream.passing_filter(stream.read()) == []  # nothing for notify to see
    assert vet_inbox.messages(wait=0) == []


def test_the_same_stream_batch_delivered_twice_notifies_once(invoke, queues, stream, vet_inbox):
    _submit(invoke)
    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))
    passing = stream.passing_filter(stream.read())

    invoke("notify")({"Records": passing})
    invoke("notify")({"Records": passing})

    assert len(vet_inbox.messages()) == 1


def test_a_malformed_message_fails_alone_and_its_batch_siblings_complete(invoke, queues):
    job = _submit(invoke)
    queues.sqs.send_message(QueueUrl=queues.url("NormalQueueUrl"), MessageBody="{not json")
    batch = queues.receive("NormalQueueUrl", wait=2)
    while len(batch) < 2:
        batch += queues.receive("NormalQueueUrl")
    bad = next(m["MessageId"] for m in batch if m["Body"] == "{not json")

    result = invoke("analyze")(queues.event("NormalQueueUrl", batch))

    assert result == {"batchItemFailures": [{"itemIdentifier": bad}]}
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.COMPLETED


def _break_ai(monkeypatch) -> None:
    """Every configured provider fails with a connection error (nothing listens on port 9)."""
    monkeypatch.setenv("AI_PROVIDERS", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AI_MAX_RETRIES", "0")
    wiring.reset()


def test_a_failed_attempt_is_retried_after_the_backoff_and_the_record_waits_pending(
    invoke, queues, monkeypatch
):
    job = _submit(invoke)
    _break_ai(monkeypatch)
    batch = queues.receive("NormalQueueUrl")

    result = invoke("analyze")(queues.event("NormalQueueUrl", batch))
    failed_at = time.monotonic()

    assert result == {"batchItemFailures": [{"itemIdentifier": batch[0]["MessageId"]}]}
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.PENDING
    assert [a.outcome for a in record.attempts] == ["failed"]
    assert record.attempts[0].error
    assert queues.receive("NormalQueueUrl", wait=1) == []  # hidden during the 2 s backoff
    again = queues.receive("NormalQueueUrl", wait=3)
    assert time.monotonic() - failed_at >= 1.5
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_the_last_failed_attempt_marks_the_record_failed_and_sends_it_to_the_dlq(
    invoke, queues, stream, vet_inbox, monkeypatch
):
    job = _submit(invoke)
    _break_ai(monkeypatch)
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", "0")
    wiring.reset()
    results = []
    for attempt in (1, 2, 3):
        batch = queues.receive("NormalQueueUrl", wait=2)
        assert batch[0]["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        results.append(invoke("analyze")(queues.event("NormalQueueUrl", batch)))

    # attempts 1 and 2 are retried; the last one's write makes the record failed, and the winner
    # of that write sends the job to the dead-letter queue itself and deletes it from the lane
    assert results[-1] == {"batchItemFailures": []}
    assert queues.receive("NormalQueueUrl", wait=1) == []
    dead = queues.receive("NormalDlqUrl", wait=2)
    assert [json.loads(m["Body"])["preDiagnosisId"] for m in dead] == [job]
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.FAILED
    assert [a.number for a in record.attempts] == [1, 2, 3]
    assert record.failure_reason
    assert record.dead_lettered
    assert json.loads(dead[0]["Body"])["dispatch"] == record.redrives == 0

    invoke("notify")({"Records": stream.passing_filter(stream.read())})
    notes = vet_inbox.messages()
    assert [json.loads(n["Message"])["kind"] for n in notes] == ["failed"]
    assert notes[0]["MessageAttributes"]["status"]["Value"] == "failed"


def test_a_message_for_a_record_that_does_not_exist_is_dropped(invoke, queues):
    queues.sqs.send_message(
        QueueUrl=queues.url("NormalQueueUrl"),
        MessageBody=json.dumps({"preDiagnosisId": "ghost", "userId": "u", "petId": "p"}),
    )
    batch = queues.receive("NormalQueueUrl", wait=2)

    assert invoke("analyze")(queues.event("NormalQueueUrl", batch)) == {"batchItemFailures": []}


def test_a_last_attempt_that_crashed_is_failed_by_the_next_delivery_and_the_vet_told(
    invoke, queues, stream, vet_inbox
):
    job = _submit(invoke)
    url = queues.url("NormalQueueUrl")
    long_ago = utcnow() - timedelta(hours=1)  # older than the function's timeout: dead
    for attempt in (1, 2, 3):  # three attempts that each died without a word (crash, timeout)
        batch = queues.receive("NormalQueueUrl", wait=2)
        wiring.repository().start_attempt(
            job, Attempt(number=attempt, started_at=long_ago), dispatch=0, stale_before=utcnow()
        )
        queues.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=batch[0]["ReceiptHandle"], VisibilityTimeout=0
        )
    stalled = wiring.repository().get(job)
    assert stalled is not None
    assert stalled.status is Status.PROCESSING

    batch = queues.receive("NormalQueueUrl", wait=2)
    assert batch[0]["Attributes"]["ApproximateReceiveCount"] == "4"
    result = invoke("analyze")(queues.event("NormalQueueUrl", batch))

    assert result == {"batchItemFailures": []}
    record = wiring.repository().get(job)
    assert record is not None
    assert record.status is Status.FAILED
    assert record.failure_reason == STRANDED_REASON
    assert [(a.number, a.outcome) for a in record.attempts] == [
        (1, "running"),
        (2, "running"),
        (3, "failed"),
    ]
    assert queues.receive("NormalQueueUrl", wait=1) == []
    assert [json.loads(m["Body"])["preDiagnosisId"] for m in queues.receive("NormalDlqUrl")] == [
        job
    ]
    invoke("notify")({"Records": stream.passing_filter(stream.read())})
    assert [json.loads(n["Message"])["kind"] for n in vet_inbox.messages()] == ["failed"]
