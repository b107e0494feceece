"""Operating the queues against moto: stats, redrive, clean, pause/resume, the red-flag
notification, and analyze's idempotency (the real OpenAI SDK against the fake server)."""

from __future__ import annotations

import io
import json
import secrets
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import boto3
import pytest

from prediag import ops, wiring
from prediag.analysis import STRANDED_REASON, JobPolicy
from prediag.models import Attempt, Lane, Status, utcnow
from prediag.queue import LaneQueues
from prediag_tools.local import Provisioned, provision
from prediag_tools.local.demo_clinic import seed_demo_clinic
from tests.conftest import REGION, TEMPLATE
from tests.fakes import FAKE_OPENAI_KEY, Behaviour, FakeSet, start_fakes
from tests.integration.support import Lambda, api_event, request_body

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def provisioned(moto_endpoint: str) -> Provisioned:
    """Resources of each test's own (queue depths are what the tests count)."""
    stage = "o" + secrets.token_hex(4)
    stack = provision(TEMPLATE, moto_endpoint, parameters={"Stage": stage}, region=REGION)
    seed_demo_clinic(stack)
    return stack


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeSet]:
    with start_fakes() as started:
        yield started


@pytest.fixture
def openai(fakes: FakeSet, monkeypatch: pytest.MonkeyPatch) -> FakeSet:
    """The analysis runs one provider, OpenAI, against the fake server; no SDK retries."""
    fakes.reset()
    monkeypatch.setenv("AI_PROVIDERS", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fakes.openai.url}/v1")
    monkeypatch.setenv("AI_MAX_RETRIES", "0")
    monkeypatch.setenv("AI_SAFETY_MARGIN_MS", "0")
    wiring.reset()
    return fakes


def _topology(stack: Provisioned) -> ops.Topology:
    return ops.Topology.from_outputs(stack.outputs)


def _adapters(stack: Provisioned) -> ops.Adapters:
    return ops.Adapters.bind(_topology(stack), boto3.client("sqs"), boto3.client("dynamodb"))


def _stats(stack: Provisioned, backoff_base: int = 2) -> ops.QueueStats:
    return ops.queue_stats(_adapters(stack), policy=JobPolicy(backoff_base_seconds=backoff_base))


def _submit(invoke, name: str = "request-normal.json") -> str:
    res = invoke("submit")(api_event("POST", "/pre-diagnoses", body=request_body(name)))
    assert res["statusCode"] == 201, res
    return str(json.loads(res["body"])["id"])


def _break_ai(monkeypatch: pytest.MonkeyPatch, backoff: int = 0) -> None:
    """Every attempt fails at once: the only provider is a port nothing listens on."""
    monkeypatch.setenv("AI_PROVIDERS", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("AI_MAX_RETRIES", "0")
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", str(backoff))
    wiring.reset()


def _mend_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider configured: the triage-only analysis, which always completes."""
    monkeypatch.setenv("AI_PROVIDERS", "")
    wiring.reset()


def _dead_letter(invoke, queues, monkeypatch: pytest.MonkeyPatch) -> str:
    """A normal case that failed its three attempts: record `failed`, its job in the DLQ."""
    job = _submit(invoke)
    _break_ai(monkeypatch)
    analyze = invoke("analyze")
    for _ in range(3):  # the third attempt's failure sends it to the DLQ itself
        batch = queues.receive("NormalQueueUrl", wait=2, max_messages=1)
        analyze(queues.event("NormalQueueUrl", batch))
    assert queues.receive("NormalQueueUrl", wait=0) == []
    _mend_ai(monkeypatch)
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.FAILED and record.dead_lettered
    return job


def _consume(invoke, queues, output: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke analyze on a batch and delete what it did not report failed, as the trigger does."""
    result: dict[str, Any] = invoke("analyze")(queues.event(output, batch))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in batch:
        if message["MessageId"] not in failed:
            queues.sqs.delete_message(
                QueueUrl=queues.url(output), ReceiptHandle=message["ReceiptHandle"]
            )
    return result


def _dlq_ids(queues, output: str = "NormalDlqUrl") -> list[str]:
    """Ids in a dead-letter queue (received with a zero visibility timeout: left in place)."""
    res = queues.sqs.receive_message(
        QueueUrl=queues.url(output), MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
    )
    found = []
    for m in res.get("Messages", []):
        try:
            found.append(json.loads(m["Body"])["preDiagnosisId"])
        except (ValueError, KeyError):
            found.append(m["Body"])
    return sorted(found)


# ---------------------------------------------------------------------- stats
def test_stats_count_waiting_active_retrying_and_dead_per_lane_with_record_statuses(
    stack, invoke, queues, monkeypatch
):
    before = _stats(stack, backoff_base=30)
    for _ in range(3):
        _submit(invoke)
    _submit(invoke, "request-urgent.json")
    # one normal job fails its first attempt and waits out a 30 s backoff
    _break_ai(monkeypatch, backoff=30)
    failing = queues.receive("NormalQueueUrl", max_messages=1)
    invoke("analyze")(queues.event("NormalQueueUrl", failing))
    # one normal job is held by an analysis (received, not finished)
    assert len(queues.receive("NormalQueueUrl", max_messages=1)) == 1
    # the urgent job completes
    _mend_ai(monkeypatch)
    _consume(invoke, queues, "UrgentQueueUrl", queues.receive("UrgentQueueUrl"))
    queues.sqs.send_message(QueueUrl=queues.url("NormalDlqUrl"), MessageBody="{}")

    after = _stats(stack, backoff_base=30)

    lanes = {s.lane: s for s in after.lanes}
    normal, urgent = lanes[Lane.NORMAL], lanes[Lane.URGENT]
    assert (normal.waiting, normal.active, normal.delayed, normal.retrying, normal.dead) == (
        1, 1, 1, 1, 1,
    )  # fmt: skip
    assert (urgent.waiting, urgent.active, urgent.delayed, urgent.dead) == (0, 0, 0, 0)
    assert (after.waiting, after.active, after.delayed, after.dead) == (1, 1, 1, 1)
    assert after.completed - before.completed == 1
    assert after.pending - before.pending == 3
    assert after.failed == before.failed
    assert after.retrying_exact


def test_stats_stop_counting_a_retry_once_its_backoff_has_elapsed(
    stack, invoke, queues, monkeypatch
):
    _submit(invoke)
    _break_ai(monkeypatch, backoff=1)
    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))
    assert {s.lane: s.retrying for s in _stats(stack, backoff_base=1).lanes}[Lane.NORMAL] == 1

    time.sleep(1.5)
    normal = {s.lane: s for s in _stats(stack, backoff_base=1).lanes}[Lane.NORMAL]

    assert (normal.retrying, normal.delayed, normal.waiting) == (0, 0, 1)


def test_admin_route_serves_the_stats_to_admins_only(stack, invoke):
    _submit(invoke)
    api = invoke("submit")

    as_admin = api(api_event("GET", "/admin/queues", groups="admins"))
    as_owner = api(api_event("GET", "/admin/queues"))
    as_vet = api(api_event("GET", "/admin/queues", groups="vets", clinic="clinic-lyon-01"))

    assert as_admin["statusCode"] == 200, as_admin
    body = json.loads(as_admin["body"])
    assert {lane["lane"]: lane["waiting"] for lane in body["lanes"]} == {"urgent": 0, "normal": 1}
    assert body["completed"] == _stats(stack).completed
    assert (as_owner["statusCode"], as_vet["statusCode"]) == (403, 403)
    assert "lanes" not in as_owner["body"]


# ---------------------------------------------------------------------- redrive
def test_redrive_all_reopens_failed_records_keeping_their_history_and_they_complete(
    stack, invoke, queues, monkeypatch
):
    first, second = (_dead_letter(invoke, queues, monkeypatch) for _ in range(2))
    assert _dlq_ids(queues) == sorted([first, second])

    report = ops.redrive(_adapters(stack))

    assert sorted(report.redriven) == sorted([first, second])
    assert sorted(i.id for i in report.letters if i.action == "removed") == sorted([first, second])
    assert _dlq_ids(queues) == []
    for job in (first, second):
        record = wiring.repository().get(job)
        assert record is not None and record.status is Status.PENDING
        assert record.redrives == 1 and record.failure_reason is None
        assert [a.outcome for a in record.attempts] == ["failed"] * 3
    batch = queues.receive("NormalQueueUrl", wait=2)
    assert sorted(json.loads(m["Body"])["preDiagnosisId"] for m in batch) == sorted([first, second])
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in batch)

    invoke("analyze")(queues.event("NormalQueueUrl", batch))

    for job in (first, second):
        record = wiring.repository().get(job)
        assert record is not None and record.status is Status.COMPLETED
        assert [a.outcome for a in record.attempts] == ["failed"] * 3 + ["succeeded"]


def test_redrive_of_selected_ids_moves_only_those_and_a_dry_run_changes_nothing(
    stack, invoke, queues, monkeypatch
):
    chosen, left = (_dead_letter(invoke, queues, monkeypatch) for _ in range(2))

    dry = ops.redrive(_adapters(stack), dry_run=True)
    assert sorted(dry.would_redrive) == sorted([chosen, left]) and dry.redriven == []
    assert _dlq_ids(queues) == sorted([chosen, left])
    assert wiring.repository().get(chosen).status is Status.FAILED

    report = ops.redrive(_adapters(stack), ids=[chosen])

    assert report.redriven == [chosen]
    assert _dlq_ids(queues) == [left]
    assert wiring.repository().get(chosen).status is Status.PENDING
    assert wiring.repository().get(left).status is Status.FAILED
    batch = queues.receive("NormalQueueUrl", wait=2)
    assert [json.loads(m["Body"])["preDiagnosisId"] for m in batch] == [chosen]


def test_redrive_by_id_of_a_failed_record_without_dead_letter_sends_a_new_message(
    stack, invoke, queues, monkeypatch
):
    job = _dead_letter(invoke, queues, monkeypatch)
    queues.sqs.purge_queue(QueueUrl=queues.url("NormalDlqUrl"))  # e.g. past the DLQ retention

    report = ops.redrive(_adapters(stack), ids=[job])

    assert report.redriven == [job]
    batch = queues.receive("NormalQueueUrl", wait=2)
    assert [json.loads(m["Body"])["preDiagnosisId"] for m in batch] == [job]
    invoke("analyze")(queues.event("NormalQueueUrl", batch))
    assert wiring.repository().get(job).status is Status.COMPLETED


def test_redrive_of_a_completed_record_is_skipped_and_sends_nothing(stack, invoke, queues):
    done = _submit(invoke)
    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))

    report = ops.redrive(_adapters(stack), ids=[done, "no-such-record"])

    assert report.redriven == []
    assert [(i.id, i.action, i.reason) for i in report.items] == [
        (done, "skipped", "the record is completed"),
        ("no-such-record", "skipped", "no such record"),
    ]
    assert queues.receive("NormalQueueUrl", wait=0) == []


def test_redrive_treats_a_record_stranded_in_processing_as_failed(stack, invoke, queues):
    """A crash on the last attempt: the record stays `processing`, the message reaches the DLQ
    on its next receive without any code running."""
    job = _submit(invoke)
    batch = queues.receive("NormalQueueUrl")
    long_ago = utcnow() - timedelta(minutes=20)
    wiring.repository().start_attempt(
        job, Attempt(number=3, started_at=long_ago), dispatch=0, stale_before=utcnow()
    )
    queues.sqs.send_message(QueueUrl=queues.url("NormalDlqUrl"), MessageBody=batch[0]["Body"])
    queues.sqs.delete_message(
        QueueUrl=queues.url("NormalQueueUrl"), ReceiptHandle=batch[0]["ReceiptHandle"]
    )

    report = ops.redrive(_adapters(stack), ids=[job])

    assert report.redriven == [job]
    record = wiring.repository().get(job)
    assert record is not None and (record.status, record.redrives) == (Status.PENDING, 1)
    assert [(a.number, a.outcome) for a in record.attempts] == [(3, "failed")]
    assert record.attempts[0].error == STRANDED_REASON
    assert _dlq_ids(queues) == []  # its old letter is obsolete, and swept


# ---------------------------------------------------------------------- clean
def test_clean_removes_stale_dead_letters_only_and_never_a_record(
    stack, invoke, queues, monkeypatch
):
    failed = _dead_letter(invoke, queues, monkeypatch)
    done = _submit(invoke)
    invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))
    dlq = queues.url("NormalDlqUrl")
    for body in (
        json.dumps({"preDiagnosisId": done, "userId": "u", "petId": "p"}),
        json.dumps({"preDiagnosisId": "no-such-record", "userId": "u", "petId": "p"}),
        json.dumps({"preDiagnosisId": failed, "userId": "u", "petId": "p"}),  # a second letter
        "not a job",
    ):
        queues.sqs.send_message(QueueUrl=dlq, MessageBody=body)

    dry = ops.clean(_adapters(stack), dry_run=True)
    assert len(_dlq_ids(queues)) == 5

    report = ops.clean(_adapters(stack))

    assert sorted(i.reason for i in report.removed) == sorted(
        [
            "the record is completed",
            "no such record",
            "another letter stands for the same record",
        ]
    )
    assert sorted(i.reason for i in dry.removed) == sorted(i.reason for i in report.removed)
    assert _dlq_ids(queues) == sorted([failed, "not a job"])
    assert wiring.repository().get(done).status is Status.COMPLETED  # records are never touched
    assert report.notify_failures == 0


def test_clean_with_an_age_removes_old_dead_letters_of_failed_records_but_not_the_records(
    stack, invoke, queues, monkeypatch
):
    failed = _dead_letter(invoke, queues, monkeypatch)

    kept = ops.clean(_adapters(stack), dead_letters_older_than=timedelta(1))
    assert kept.removed == [] and _dlq_ids(queues) == [failed]

    later = utcnow() + timedelta(days=2)
    report = ops.clean(_adapters(stack), dead_letters_older_than=timedelta(1), now=later)

    assert [i.id for i in report.removed] == [failed]
    assert _dlq_ids(queues) == []
    assert wiring.repository().get(failed).status is Status.FAILED


# ---------------------------------------------------------------------- pause / resume
def test_pause_and_resume_disable_and_enable_the_analysis_mappings_of_the_lanes(stack):
    """The AWS adapter against moto's Lambda: a function with one mapping per lane (queues of
    their own, so moto never tries to run the function) and one on another queue."""
    sqs, lam, iam = boto3.client("sqs"), boto3.client("lambda"), boto3.client("iam")
    suffix = stack.stage
    urls = {
        name: sqs.create_queue(QueueName=f"esm-{name}-{suffix}")["QueueUrl"]
        for name in ("urgent", "normal", "other")
    }
    role = iam.create_role(
        RoleName=f"esm-{suffix}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    function = f"analyze-{suffix}"
    lam.create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    for url in urls.values():
        lam.create_event_source_mapping(
            EventSourceArn=sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"],
            FunctionName=function,
            BatchSize=1,
        )
    topology = ops.Topology(
        table_name="unused",
        lanes=(
            LaneQueues(Lane.URGENT, urls["urgent"], urls["urgent"]),
            LaneQueues(Lane.NORMAL, urls["normal"], urls["normal"]),
        ),
        analyze_function_name=function,
    )
    control = ops.EsmControl(lam)

    def states() -> dict[str, str]:
        return {m.source_arn.rsplit("-", 2)[-2]: m.state for m in control.mappings(function)}

    paused = ops.set_analysis_enabled(control, topology, False, lanes=[Lane.NORMAL])
    assert [(m.lane, m.state) for m in paused] == [(Lane.NORMAL, "Disabled")]
    assert states() == {"urgent": "Enabled", "normal": "Disabled", "other": "Enabled"}

    paused_all = ops.set_analysis_enabled(control, topology, False)
    assert states() == {"urgent": "Disabled", "normal": "Disabled", "other": "Enabled"}
    assert [m.lane for m in paused_all] == [Lane.NORMAL, Lane.URGENT]  # urgent paused last

    resumed = ops.set_analysis_enabled(control, topology, True, wait_s=5, poll_s=0.1)
    assert [(m.lane, m.state) for m in resumed] == [  # urgent resumed first
        (Lane.URGENT, "Enabled"),
        (Lane.NORMAL, "Enabled"),
    ]
    assert states() == {"urgent": "Enabled", "normal": "Enabled", "other": "Enabled"}


def test_pausing_without_a_mapping_on_the_lanes_is_refused(stack):
    topology = _topology(stack)  # moto's Lambda knows no mapping of the analyze function

    with pytest.raises(ops.OpsError, match="no trigger on the selected lanes"):
        ops.set_analysis_enabled(ops.EsmControl(boto3.client("lambda")), topology, False)


def test_admin_pause_route_is_for_admins_only(invoke):
    answer = invoke("submit")(api_event("POST", "/admin/pause", body={}))

    assert answer["statusCode"] == 403


# ---------------------------------------------------------------------- red flag
def test_an_immediate_case_notifies_the_vet_at_once_and_again_when_analysed(
    invoke, queues, stream, vet_inbox
):
    job = _submit(invoke, "request-urgent.json")
    arrived = stream.passing_filter(stream.read())
    assert [(r["eventName"], r["dynamodb"]["NewImage"]["id"]["S"]) for r in arrived] == [
        ("INSERT", job)
    ]

    invoke("notify")({"Records": arrived})
    invoke("notify")({"Records": arrived})  # a retried stream batch

    notes = vet_inbox.messages()
    assert len(notes) == 1
    note = json.loads(notes[0]["Message"])
    assert (note["kind"], note["id"], note["status"], note["urgency"]) == (
        "red_flag",
        job,
        "pending",
        "immediate",
    )
    assert note["redFlags"] and note["seeWithinMinutes"] == 0
    assert notes[0]["Subject"].startswith("[IMMEDIATE] Red flag")
    assert notes[0]["MessageAttributes"]["kind"]["Value"] == "red_flag"

    invoke("analyze")(queues.event("UrgentQueueUrl", queues.receive("UrgentQueueUrl")))
    invoke("notify")({"Records": stream.passing_filter(stream.read())})

    assert [json.loads(n["Message"])["kind"] for n in vet_inbox.messages()] == ["completed"]


def test_a_case_without_an_immediate_flag_is_not_announced_before_its_analysis(invoke, stream):
    _submit(invoke)  # triaged "urgent": not immediate

    assert stream.passing_filter(stream.read()) == []


# ---------------------------------------------------------------------- one analysis per job
def test_a_concurrent_duplicate_delivery_is_stopped_while_the_first_is_analysing(
    stack, invoke, queues, openai
):
    openai.openai.set_default(Behaviour("ok", delay_s=1.5))
    job = _submit(invoke)
    event = queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl"))
    first, second = Lambda(stack, "analyze"), Lambda(stack, "analyze")

    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(first, event)
        time.sleep(0.5)
        duplicate = pool.submit(second, event)
        results: list[Any] = [running.result(), duplicate.result()]

    assert results[0] == {"batchItemFailures": []}
    message_id = event["Records"][0]["messageId"]
    assert results[1] == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert len(openai.openai.requests) == 1
    record = wiring.repository().get(job)
    assert record is not None and record.status is Status.COMPLETED
    assert [a.outcome for a in record.attempts] == ["succeeded"]


def test_a_retry_after_a_failed_attempt_runs_again(invoke, queues, openai, monkeypatch):
    monkeypatch.setenv("BACKOFF_BASE_SECONDS", "0")
    wiring.reset()
    openai.openai.script(Behaviour("server_error"))
    job = _submit(invoke)

    failed = invoke("analyze")(queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl")))
    retried = invoke("analyze")(
        queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl", wait=2))
    )

    assert len(failed["batchItemFailures"]) == 1 and retried == {"batchItemFailures": []}
    assert len(openai.openai.requests) == 2
    record = wiring.repository().get(job)
    assert record is not None
    assert [(a.number, a.outcome) for a in record.attempts] == [(1, "failed"), (2, "succeeded")]


def test_a_redelivered_finished_job_calls_no_model(stack, invoke, queues, openai):
    job = _submit(invoke)
    event = queues.event("NormalQueueUrl", queues.receive("NormalQueueUrl"))
    invoke("analyze")(event)
    finished = wiring.repository().get(job)

    again = invoke("analyze")(event)

    assert again == {"batchItemFailures": []}
    assert len(openai.openai.requests) == 1
    assert wiring.repository().get(job) == finished


# ---------------------------------------------------------------------- CLI, deployed stack
def test_cli_reads_a_deployed_stack_from_its_cloudformation_outputs(stack, invoke):
    """`prediag stats --stack NAME`: outputs from DescribeStacks, then the AWS APIs (here moto,
    through AWS_ENDPOINT_URL, as a deployed stack would be reached with real credentials)."""
    from typer.testing import CliRunner

    from prediag_tools.cli import app

    _submit(invoke)
    wanted = ("PreDiagnosesTableName", "UrgentQueueUrl", "NormalQueueUrl", "UrgentDlqUrl",
              "NormalDlqUrl", "IdempotencyTableName", "AnalyzeFunctionName")  # fmt: skip
    template = {
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {name: {"Value": str(stack.outputs[name])} for name in wanted},
    }
    name = f"prediag-{stack.stage}"
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))

    result = CliRunner().invoke(app, ["stats", "--stack", name, "--json"])

    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert {lane["lane"]: lane["waiting"] for lane in stats["lanes"]} == {"urgent": 0, "normal": 1}
    assert stats["pending"] == 1

    missing = CliRunner().invoke(app, ["stats", "--stack", "no-such-stack"])
    assert missing.exit_code == 2
    assert "cannot read stack no-such-stack" in missing.output


def test_a_pending_record_left_with_only_its_dead_letter_is_sent_back_when_named(
    stack, invoke, queues
):
    job = _submit(invoke)
    batch = queues.receive("NormalQueueUrl")  # its deliveries ran out in a crash: job in the DLQ
    queues.sqs.send_message(QueueUrl=queues.url("NormalDlqUrl"), MessageBody=batch[0]["Body"])
    queues.sqs.delete_message(
        QueueUrl=queues.url("NormalQueueUrl"), ReceiptHandle=batch[0]["ReceiptHandle"]
    )

    everything = ops.redrive(_adapters(stack))
    assert everything.redriven == [] and _dlq_ids(queues) == [job]

    named = ops.redrive(_adapters(stack), ids=[job])

    assert named.redriven == [job]
    assert _dlq_ids(queues) == []
    again = queues.receive("NormalQueueUrl", wait=2)
    assert [json.loads(m["Body"])["dispatch"] for m in again] == [1]
    _consume(invoke, queues, "NormalQueueUrl", again)
    assert wiring.repository().get(job).status is Status.COMPLETED


def test_a_pending_record_whose_job_is_in_its_lane_is_not_redriven(stack, invoke, queues):
    job = _submit(invoke)

    report = ops.redrive(_adapters(stack), ids=[job])

    assert [(i.action, i.reason) for i in report.items] == [
        ("skipped", "already pending (redriven by another call, or waiting for a retry)")
    ]
    assert len(queues.receive("NormalQueueUrl", wait=1)) == 1
