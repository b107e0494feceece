"""The real template end to end on the local stack: API -> submit -> table + lane queue ->
analyze (triage-only: no AI keys in the environment) -> stream -> notify -> SNS."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def pipeline(real_stack: RunningStack) -> RunningStack:
    return real_stack


@pytest.fixture(scope="module")
def inbox(pipeline: RunningStack) -> str:
    """An SQS queue subscribed to the vet topic (raw delivery)."""
    sqs, sns = pipeline.aws("sqs"), pipeline.aws("sns")
    url = sqs.create_queue(QueueName=f"vet-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=pipeline.outputs["VetTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


def _request() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "request-normal.json").read_text())
    body["pet"]["id"] = f"pet-{uuid.uuid4().hex[:8]}"
    return body


def _submit(stack: RunningStack, token: str) -> dict[str, Any]:
    with stack.http() as http:
        response = http.post("/pre-diagnoses", json=_request(), headers={"Authorization": token})
    assert response.status_code == 201, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def _status(stack: RunningStack, token: str, record_id: str) -> str:
    with stack.http() as http:
        response = http.get(f"/pre-diagnoses/{record_id}", headers={"Authorization": token})
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def _mentions(messages: list[Any], record_id: str) -> list[Any]:
    return [m for m in messages if record_id in json.dumps(m)]


def _wait_notified(
    stack: RunningStack, inbox: str, record_id: str, messages: list[Any]
) -> list[Any]:
    """Collect vet-topic messages into `messages` until one mentions `record_id`."""

    def arrived() -> list[Any]:
        messages.extend(stack.drain(inbox, wait=0))
        return _mentions(messages, record_id)

    return stack.wait_for(arrived, 20)


def test_submitted_case_completes_and_the_vet_is_notified(
    pipeline: RunningStack, inbox: str
) -> None:
    token = pipeline.token("owner-e2e@example.com")
    started = time.monotonic()
    accepted = _submit(pipeline, token)
    assert accepted["status"] == "pending"
    assert accepted["lane"] in ("urgent", "normal")
    record_id = accepted["id"]
    pipeline.wait_for(lambda: _status(pipeline, token, record_id) == "completed", 30)
    completed_s = time.monotonic() - started
    notified = _wait_notified(pipeline, inbox, record_id, [])
    assert len(notified) == 1
    sys.stdout.write(f"\n[one record, triage-only: 201 -> completed in {completed_s:.2f}s]\n")


def test_malformed_message_fails_alone_in_its_batch(pipeline: RunningStack) -> None:
    """With the lane paused, a good case and a malformed message wait in the same queue;
    resumed, one batch carries both: the case completes, its message is deleted, and only the
    malformed message stays in flight for a retry."""
    token = pipeline.token("owner-batch@example.com")
    normal = "NormalLane"
    assert pipeline.esm(normal, "disable")["State"] == "Disabled"
    urgent_paused = False
    try:
        accepted = _submit(pipeline, token)
        lane = accepted["lane"]
        if lane == "urgent":
            urgent_paused = pipeline.esm("UrgentLane", "disable")["State"] == "Disabled"
        queue = pipeline.outputs["UrgentQueueUrl" if lane == "urgent" else "NormalQueueUrl"]
        pipeline.aws("sqs").send_message(QueueUrl=queue, MessageBody="{not a queue message")
        before = pipeline.invocations("analyze")
    finally:
        pipeline.esm(normal, "enable")
        if urgent_paused:
            pipeline.esm("UrgentLane", "enable")
    pipeline.wait_for(lambda: _status(pipeline, token, accepted["id"]) == "completed", 30)
    mapping = pipeline.mapping("UrgentLane" if lane == "urgent" else normal)
    attributes = pipeline.aws("sqs").get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # the malformed one
    if mapping["BatchSize"] > 1:
        assert pipeline.invocations("analyze") == before + 1  # one batch carried both


def test_unrelated_update_is_filtered_out_before_notify(pipeline: RunningStack, inbox: str) -> None:
    """A MODIFY that is not processing -> terminal never reaches notify: no invocation, no SNS
    message. A later case's completion (same shard, in order) shows the stream moved past it."""
    token = pipeline.token("owner-filter@example.com")
    first = _submit(pipeline, token)["id"]
    pipeline.wait_for(lambda: _status(pipeline, token, first) == "completed", 30)
    messages: list[Any] = []
    _wait_notified(pipeline, inbox, first, messages)
    mapping = pipeline.mapping_uuid("TerminalStates")
    before = pipeline.invocations("notify")
    filtered = pipeline.metric("FilteredOutEventCount", EventSourceMappingUUID=mapping)
    pipeline.aws("dynamodb").update_item(
        TableName=pipeline.outputs["PreDiagnosesTableName"],
        Key={"id": {"S": first}},
        UpdateExpression="SET #p = :p",
        ExpressionAttributeNames={"#p": "localProbe"},
        ExpressionAttributeValues={":p": {"S": "unrelated"}},
    )
    control = _submit(pipeline, token)["id"]
    pipeline.wait_for(lambda: _status(pipeline, token, control) == "completed", 30)
    _wait_notified(pipeline, inbox, control, messages)
    assert len(_mentions(messages, first)) == 1
    assert pipeline.invocations("notify") == before + 1
    assert pipeline.metric("FilteredOutEventCount", EventSourceMappingUUID=mapping) > filtered
    probe_lines = [
        line for line in pipeline.lines if line.startswith("[notify]") and "localProbe" in line
    ]
    assert probe_lines == []


def test_simulate_ai_runs_the_ensemble_against_the_fake_providers(
    start_stack: Callable[..., RunningStack],
) -> None:
    stack = start_stack(Path(__file__).resolve().parents[2] / "template.yaml", "--simulate-ai")
    stack.wait_for(lambda: "SIMULATED models" in stack.output_text(), 10)
    token = stack.token("owner-sim@example.com")
    record_id = _submit(stack, token)["id"]
    stack.wait_for(lambda: _status(stack, token, record_id) == "completed", 30)
    with stack.http() as http:
        record = http.get(f"/pre-diagnoses/{record_id}", headers={"Authorization": token}).json()
    analysis = record["analysis"]
    assert analysis["method"] == "ensemble"
    assert {p["provider"]: p["outcome"] for p in analysis["providers"]} == {
        "openai": "ok",
        "anthropic": "ok",
        "bedrock": "ok",
    }


def test_each_functions_log_lines_carry_only_its_own_name_and_request_ids(
    pipeline: RunningStack, inbox: str
) -> None:
    """Cases submitted at once keep the three functions busy at the same time; every JSON log
    line of a function names that function and one of its own invocations."""
    token = pipeline.token("owner-logs@example.com")
    with ThreadPoolExecutor(8) as pool:
        ids = [a["id"] for a in pool.map(lambda _: _submit(pipeline, token), range(12))]
    messages: list[Any] = []
    for record_id in ids:
        pipeline.wait_for(lambda rid=record_id: _status(pipeline, token, rid) == "completed", 30)
        _wait_notified(pipeline, inbox, record_id, messages)
    names = {f: pipeline.function_name(f) for f in ("submit", "analyze", "notify")}
    starts = {f: set() for f in names}
    records: dict[str, list[dict[str, Any]]] = {f: [] for f in names}
    start = re.compile(r"START RequestId: (\S+) Version")
    for line in list(pipeline.lines):
        prefix, _, text = line.partition(" ")
        function = prefix.strip("[]")
        if function not in names:
            continue
        if found := start.match(text):
            starts[function].add(found.group(1))
        elif text.startswith("{"):
            with_context = json.loads(text)
            if "function_name" in with_context:
                records[function].append(with_context)
    checked = 0
    for function, lines in records.items():
        assert lines, f"no JSON log line of {function}"
        for record in lines:
            assert record["function_name"] == names[function], record
            assert record["function_request_id"] in starts[function], record
            checked += 1
        # a cold start is one environment's first invocation, never another function's
        colds = {r["function_request_id"] for r in lines if r.get("cold_start") is True}
        inits = [x for x in pipeline.lines if x.startswith(f"[{function}] INIT_START")]
        assert 1 <= len(colds) <= len(inits)
    sys.stdout.write(f"\n[{checked} JSON log lines, each of its own function and invocation]\n")


def test_the_admin_routes_pause_and_resume_the_lanes_through_lambdas_api(
    pipeline: RunningStack,
) -> None:
    """POST /admin/pause runs plain boto3 Lambda calls in the submit function; with the
    AWS_ENDPOINT_URL_LAMBDA the stack gives it, they reach the local pollers."""
    admin = pipeline.token("admin-pause@example.com", groups=["admins"])
    headers = {"Authorization": admin}
    lanes = ("UrgentLane", "NormalLane")
    with pipeline.http() as http:
        paused = http.post("/admin/pause", headers=headers)
        assert paused.status_code == 200, paused.text
        assert {m["state"] for m in paused.json()["mappings"]} <= {"Disabling", "Disabled"}
        assert {m["id"] for m in paused.json()["mappings"]} == {
            pipeline.mapping_uuid(lane) for lane in lanes
        }
        try:
            pipeline.wait_for(
                lambda: all(pipeline.mapping(lane)["State"] == "Disabled" for lane in lanes)
            )
        finally:
            resumed = http.post("/admin/resume", headers=headers)
    assert resumed.status_code == 200, resumed.text
    pipeline.wait_for(lambda: all(pipeline.mapping(lane)["State"] == "Enabled" for lane in lanes))
