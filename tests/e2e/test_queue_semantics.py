"""The old Bull worker's queue promises, end to end on the local stack (`prediag local start`
in a subprocess, the real template): retries with 2 s / 4 s backoffs, final failure to the DLQ
with the vet told, redrive, safe redelivery, priority lanes, pause/resume - observed through
the API, the AWS APIs, the `prediag` CLI and the stack's own structured logs.

The analysis runs one provider, Bedrock, through boto3 against the fake Bedrock server of
tests/fakes (the `fakes` fixture of conftest.py): the test makes it answer 500 (a real fault)
or answer normally.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from prediag import ops
from prediag.models import Status
from tests.e2e.conftest import PREDIAG, start_on_fake_bedrock, stop_stack_now, wait_for
from tests.fakes import Behaviour, FakeSet

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("healthy_provider"),
]

EVENTS = Path(__file__).resolve().parents[2] / "events"
FAULT = Behaviour("server_error", status=500)


@pytest.fixture(scope="module")
def stack(fakes: FakeSet) -> Iterator[RunningStack]:
    """The real template with Bedrock (the fake) as the only provider, and a normal lane of
    2 pollers x 5 messages, so a backlog of 50 takes a while to drain."""
    running = start_on_fake_bedrock(
        fakes,
        "--param", "NormalMaxConcurrency=2",
        "--param", "NormalBatchSize=5",
        "--param", "SubmissionsPerOwnerPerHour=1000",  # a backlog of 51 from one owner
    )  # fmt: skip
    try:
        yield running
    finally:
        stop_stack_now(running)


@pytest.fixture(scope="module")
def inbox(stack: RunningStack) -> str:
    """An SQS queue subscribed to the vet topic (raw delivery): what a vet receives."""
    sqs, sns = stack.aws("sqs"), stack.aws("sns")
    url = sqs.create_queue(QueueName=f"vet-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=stack.outputs["VetTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return url


# ---------------------------------------------------------------------- helpers
def _submit(stack: RunningStack, name: str = "request-normal.json", token: str = "") -> str:
    body: dict[str, Any] = json.loads((EVENTS / name).read_text())
    body["pet"]["id"] = f"pet-{uuid.uuid4().hex[:8]}"
    token = token or stack.token("owner-semantics@example.com")
    with stack.http() as http:
        response = http.post("/pre-diagnoses", json=body, headers={"Authorization": token})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _prediag(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The `prediag` CLI against this local stack."""
    env = {**stack.cli_env(), "COLUMNS": "200"}
    return subprocess.run(
        [PREDIAG, *args, "--endpoint", stack.endpoint_url, "--api", stack.api_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _stats(stack: RunningStack) -> dict[str, Any]:
    """`prediag stats --json`."""
    result = _prediag(stack, "stats", "--json")
    assert result.returncode == 0, result.stderr
    stats: dict[str, Any] = json.loads(result.stdout)
    return stats


def _quick_stats(stack: RunningStack) -> dict[str, Any]:
    """The same statistics, computed in this process (for polling loops)."""
    topology = ops.Topology.from_outputs(stack.outputs)
    return ops.queue_stats(
        ops.Adapters.bind(topology, stack.aws("sqs"), stack.aws("dynamodb"))
    ).dump()


def _lane(stats: dict[str, Any], lane: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in stats["lanes"] if s["lane"] == lane)
    return found


def _log_records(stack: RunningStack, job_id: str) -> list[dict[str, Any]]:
    """The analyze function's structured (Powertools JSON) log records about one job."""
    found = []
    for line in list(stack.lines):
        if not line.startswith("[analyze] {"):
            continue
        try:
            record = json.loads(line.removeprefix("[analyze] "))
        except ValueError:
            continue
        if record.get("pre_diagnosis_id") == job_id:
            found.append(record)
    return found


def _notes(stack: RunningStack, inbox: str, record_id: str, seen: list[Any]) -> list[Any]:
    seen.extend(stack.drain(inbox, wait=0))
    return [n for n in seen if isinstance(n, dict) and n.get("id") == record_id]


# ---------------------------------------------------------------------- retries
def test_a_job_failing_twice_is_retried_after_2_then_4_seconds_and_completes_on_attempt_3(
    stack: RunningStack, fakes: FakeSet
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)

    def failed_twice() -> bool:
        return [a.outcome for a in stack.record(job).attempts] == ["failed", "failed"]

    wait_for(failed_twice, 20, interval=0.1)
    fakes.bedrock.set_default(Behaviour("ok"))  # the fault is gone before the third attempt
    stack.until_status(job, Status.COMPLETED, 20)

    attempts = stack.record(job).attempts
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert all(a.ended_at is not None for a in attempts)
    gaps = [
        (attempts[i + 1].started_at - attempts[i].ended_at).total_seconds()  # type: ignore[operator]
        for i in range(2)
    ]
    print(f"\n[backoff gaps measured: {gaps[0]:.2f}s, {gaps[1]:.2f}s]")
    assert 2.0 <= gaps[0] < 4.0  # visible again after 2 s (+ the poller's pick-up)
    assert 4.0 <= gaps[1] < 7.0  # then after 4 s
    assert "server_error" in (attempts[0].error or "")

    def logged_completion() -> list[dict[str, Any]]:
        found = _log_records(stack, job)
        return found if any(r["message"].startswith("Completed") for r in found) else []

    logs = wait_for(logged_completion, 5)
    messages = [(r["level"], r["message"]) for r in logs]
    for n in (1, 2, 3):
        assert ("INFO", f"Starting the analysis of {job} (attempt {n}/3)") in messages
    failures = [r for r in logs if r["message"].startswith(f"The analysis of {job} failed: ")]
    assert [(r["level"], r["attempt"]) for r in failures] == [("WARNING", 1), ("WARNING", 2)]
    assert ("INFO", f"Completed the analysis of {job}") in messages
    assert all(r["service"] == "prediag" and "timestamp" in r for r in logs)


def test_a_job_that_always_fails_ends_failed_in_the_dlq_the_vet_is_told_and_redrive_completes_it(
    stack: RunningStack, fakes: FakeSet, inbox: str
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)
    stack.until_status(job, Status.FAILED, 25)
    seen: list[Any] = []
    failed_notes = wait_for(lambda: _notes(stack, inbox, job, seen), 10)
    assert [(n["kind"], n["status"]) for n in failed_notes] == [("failed", "failed")]
    assert failed_notes[0]["failureReason"]
    wait_for(lambda: _lane(_quick_stats(stack), "normal")["dead"] == 1, 10)
    assert _lane(_stats(stack), "normal")["dead"] == 1

    listed = _prediag(stack, "jobs", "--status", "failed", "--json")
    assert listed.returncode == 0, listed.stderr
    assert job in [r["id"] for r in json.loads(listed.stdout)["items"]]
    dry = _prediag(stack, "redrive", "--dry-run")
    assert dry.returncode == 0 and job in dry.stdout and "would_redrive" in dry.stdout
    assert stack.record(job).status is Status.FAILED

    fakes.bedrock.set_default(Behaviour("ok"))  # the fault is gone
    redriven = _prediag(stack, "redrive")

    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert job in redriven.stdout and "1 job(s) redriven" in redriven.stdout
    stack.until_status(job, Status.COMPLETED, 20)
    record = stack.record(job)
    assert record.redrives == 1
    assert [a.outcome for a in record.attempts] == ["failed"] * 3 + ["succeeded"]
    assert _lane(_stats(stack), "normal")["dead"] == 0
    notes = wait_for(lambda: len(_notes(stack, inbox, job, seen)) >= 2 and seen, 10)
    assert [n["kind"] for n in notes if n.get("id") == job] == ["failed", "completed"]


def test_concurrent_redrives_through_the_cli_and_the_api_analyse_once_and_answer_no_5xx(
    stack: RunningStack, fakes: FakeSet
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)
    stack.until_status(job, Status.FAILED, 25)
    wait_for(lambda: stack.record(job).dead_lettered, 10)
    fakes.bedrock.set_default(Behaviour("ok"))
    admin = stack.token("admin-races@example.com", groups=["admins"])
    each = 6
    start = threading.Barrier(2 * each)

    def via_api(_: int) -> Any:
        with stack.http() as http:
            start.wait()
            return http.post(
                "/admin/redrive", json={"ids": [job]}, headers={"Authorization": admin}
            )

    def via_cli(_: int) -> subprocess.CompletedProcess[str]:
        start.wait()
        return _prediag(stack, "redrive", "--id", job, "--json")

    with ThreadPoolExecutor(2 * each) as pool:
        api_calls = [pool.submit(via_api, i) for i in range(each)]
        cli_calls = [pool.submit(via_cli, i) for i in range(each)]
        answers = [f.result() for f in api_calls]
        runs = [f.result() for f in cli_calls]

    assert [a.status_code for a in answers] == [200] * each, [a.text for a in answers]
    assert all(r.returncode in (0, 1) for r in runs), [r.stderr for r in runs]
    reports = [a.json() for a in answers] + [json.loads(r.stdout) for r in runs]
    actions = [item["action"] for report in reports for item in report["items"]]
    assert sorted(actions) == ["redriven"] + ["skipped"] * (2 * each - 1)
    stack.until_status(job, Status.COMPLETED, 20)
    record = stack.record(job)
    assert record.redrives == 1
    assert [a.outcome for a in record.attempts] == ["failed"] * 3 + ["succeeded"]
    wait_for(lambda: _lane(_quick_stats(stack), "normal")["dead"] == 0, 10)


def test_a_redrive_right_after_the_failure_leaves_no_stray_letter_and_logs_no_error(
    stack: RunningStack, fakes: FakeSet
) -> None:
    fakes.bedrock.set_default(FAULT)
    job = _submit(stack)
    stack.until_status(job, Status.FAILED, 25)
    fakes.bedrock.set_default(Behaviour("ok"))

    def redriven() -> bool:  # at once, and again until the record may be redriven
        result = _prediag(stack, "redrive", "--id", job, "--json")
        return [i["action"] for i in json.loads(result.stdout)["items"]] == ["redriven"]

    wait_for(redriven, 15, interval=0.05)
    stack.until_status(job, Status.COMPLETED, 20)
    time.sleep(1.0)  # a stray letter or error would show within the poller's next rounds
    assert _lane(_quick_stats(stack), "normal")["dead"] == 0
    assert [r for r in _log_records(stack, job) if r["level"] == "ERROR"] == []


def test_a_redelivered_finished_message_changes_nothing_and_notifies_nothing(
    stack: RunningStack, fakes: FakeSet, inbox: str
) -> None:
    job = _submit(stack)
    stack.until_status(job, Status.COMPLETED, 20)
    seen: list[Any] = []
    wait_for(lambda: _notes(stack, inbox, job, seen), 10)
    wait_for(lambda: stack.record(job).notifications, 10)  # noted on the record once sent
    finished = stack.record(job)
    calls = len(fakes.bedrock.requests)
    before = stack.invocations("analyze")
    message = {"preDiagnosisId": job, "userId": finished.user_id, "petId": finished.pet_id}

    stack.aws("sqs").send_message(
        QueueUrl=stack.outputs["NormalQueueUrl"], MessageBody=json.dumps(message)
    )

    wait_for(lambda: stack.invocations("analyze") > before, 10)

    def lane_empty() -> bool:
        normal = _lane(_quick_stats(stack), "normal")
        return normal["waiting"] == normal["active"] == normal["dead"] == 0

    wait_for(lane_empty, 10)  # the duplicate was consumed and deleted, not failed
    time.sleep(1.0)  # time for a (wrong) notification to arrive
    assert stack.record(job) == finished
    assert len(fakes.bedrock.requests) == calls
    assert len(_notes(stack, inbox, job, seen)) == 1


# ---------------------------------------------------------------------- priority
def test_an_urgent_case_submitted_behind_50_normal_ones_finishes_before_them(
    stack: RunningStack, fakes: FakeSet
) -> None:
    token = stack.token("owner-backlog@example.com")
    # Three environments warm first (two normal invocations and an urgent one): locally a cold
    # start waits for a free core, which would measure the machine rather than the lanes.
    fakes.bedrock.set_default(Behaviour("ok", delay_s=1.0))
    with ThreadPoolExecutor(8) as pool:
        warm_up = list(
            pool.map(
                lambda name: _submit(stack, name, token=token),
                ["request-urgent.json", *["request-normal.json"] * 10],
            )
        )
    for job in warm_up:
        stack.until_status(job, Status.COMPLETED, 30)
    fakes.bedrock.set_default(Behaviour("ok", delay_s=0.2))
    paused = _prediag(stack, "pause")
    assert paused.returncode == 0, paused.stderr
    try:
        with ThreadPoolExecutor(8) as pool:
            normal = list(pool.map(lambda _: _submit(stack, token=token), range(50)))
        urgent = _submit(stack, "request-urgent.json", token=token)
        assert _lane(_stats(stack), "normal")["waiting"] == 50
    finally:
        resumed = _prediag(stack, "resume")
    assert resumed.returncode == 0, resumed.stderr

    def all_done() -> bool:
        return _quick_stats(stack)["lanes"] == [
            {"lane": lane, "waiting": 0, "active": 0, "delayed": 0, "retrying": 0, "dead": 0}
            for lane in ("urgent", "normal")
        ]

    wait_for(all_done, 45, interval=0.5)
    done = {i: stack.record(i) for i in [*normal, urgent]}
    assert all(r.status is Status.COMPLETED for r in done.values())
    urgent_at = done[urgent].updated_at
    ahead = sum(1 for i in normal if done[i].updated_at < urgent_at)
    print(f"\n[urgent case finished after {ahead} of the 50 normal ones]")
    # the urgent lane resumes first: at most the normal lane's first wave (2 batches of 5),
    # started with it, can finish before it
    assert ahead <= 10
    assert done[urgent].lane.value == "urgent"


# ---------------------------------------------------------------------- pause / resume
def test_pause_stops_consumption_and_resume_restarts_it(stack: RunningStack) -> None:
    paused = _prediag(stack, "pause")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.count("Disabled") == 2
    try:
        before = stack.invocations("analyze")
        job = _submit(stack)
        time.sleep(3.0)
        assert stack.record(job).status is Status.PENDING
        assert stack.invocations("analyze") == before
        assert _lane(_stats(stack), "normal")["waiting"] == 1
    finally:
        resumed = _prediag(stack, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("Enabled") == 2
    stack.until_status(job, Status.COMPLETED, 15)
