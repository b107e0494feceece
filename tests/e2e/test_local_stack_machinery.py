"""The local stack's emulation of API Gateway, Cognito, SQS and DynamoDB stream triggers,
checked on the fixture topology (tests/e2e/fixtures), whose handlers report what they saw."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def _audit(stack: RunningStack, sink: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sink.extend(stack.drain(stack.outputs["AuditQueueUrl"], wait=0))
    return sink


def _subscribe_queue(stack: RunningStack) -> str:
    sqs, sns = stack.aws("sqs"), stack.aws("sns")
    url = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=stack.outputs["TopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return str(url)


# ---------------------------------------------------------------------- API + Cognito
def test_request_without_token_is_refused_401(fixture_stack: RunningStack) -> None:
    with fixture_stack.http() as http:
        response = http.post("/items", json={})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_forged_or_garbage_token_is_refused_401(fixture_stack: RunningStack) -> None:
    good = fixture_stack.token("forger@example.com")
    header, payload, _signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["cognito:groups"] = ["admins"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{_signature}"
    with fixture_stack.http() as http:
        assert http.post("/items", json={}, headers={"Authorization": forged}).status_code == 401
        assert http.post("/items", json={}, headers={"Authorization": "abc"}).status_code == 401


def test_valid_id_token_reaches_handler_with_claims_as_api_gateway_strings(
    fixture_stack: RunningStack,
) -> None:
    token = fixture_stack.token("vet1@example.com", groups=["vets", "admins"], clinic="c-1")
    with fixture_stack.http() as http:
        response = http.post(
            "/items", json={"id": f"auth-{uuid.uuid4().hex[:6]}"},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    claims = body["claims"]
    assert all(isinstance(v, str) for v in claims.values())
    assert sorted(claims["cognito:groups"].split(",")) == ["admins", "vets"]  # one string
    assert claims["custom:clinic_id"] == "c-1"
    assert claims["email"] == "vet1@example.com"
    assert claims["token_use"] == "id"
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime()))
    assert " UTC " in claims["exp"]
    assert body["functionName"] == "fx-local-api"
    assert 0 < body["remainingMs"] <= 10_000
    assert body["publicUrl"] == fixture_stack.api_url  # execute-api URL localised
    assert body["isLocal"] == "yes"  # Fn::If over a condition
    assert response.headers.get_list("X-Multi") == ["one", "two"]


def test_proxy_event_has_the_rest_v1_shape(fixture_stack: RunningStack) -> None:
    with fixture_stack.http() as http:
        response = http.request(
            "PUT",
            "/echo/a/b?x=1&x=2&y=",
            content=b'{"k": 1}',
            headers={"Content-Type": "application/json", "X-Trace": "t1"},
        )
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["resource"] == "/echo/{proxy+}"
    assert event["path"] == "/echo/a/b"
    assert event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["X-Trace"] == "t1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["resourcePath"] == "/echo/{proxy+}"
    assert context["httpMethod"] == "PUT"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert uuid.UUID(context["requestId"])
    assert "authorizer" not in context  # Auth: NONE on this route


def test_binary_media_type_goes_base64_both_ways(fixture_stack: RunningStack) -> None:
    payload = bytes(range(256))
    with fixture_stack.http() as http:
        response = http.post(
            "/echo/bin", content=payload, headers={"Content-Type": "application/octet-stream"}
        )
    assert response.status_code == 200
    assert response.content == payload


def test_unknown_path_or_method_is_api_gateways_403_missing_authentication_token(
    fixture_stack: RunningStack,
) -> None:
    with fixture_stack.http() as http:
        answers = [
            http.get("/nowhere"),
            http.delete("/items"),
            http.request("TRACE", "/items"),
            http.request("QUERY", "/echo/x"),
            http.options("/items"),  # no Cors in this template: no preflight either
        ]
    for answer in answers:
        assert answer.status_code == 403, answer.request
        assert answer.json() == {"message": "Missing Authentication Token"}
        assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_handler_over_its_timeout_fails_like_lambda(fixture_stack: RunningStack) -> None:
    with fixture_stack.http() as http:
        response = http.get("/slow")
    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}
    fixture_stack.wait_for(
        lambda: "Task timed out after 1.00 seconds" in fixture_stack.output_text(), 5
    )


# ---------------------------------------------------------------------- whole flow
def test_created_item_completes_and_is_published(fixture_stack: RunningStack) -> None:
    inbox = _subscribe_queue(fixture_stack)
    token = fixture_stack.token("owner@example.com")
    item_id = f"flow-{uuid.uuid4().hex[:6]}"
    with fixture_stack.http() as http:
        created = http.post("/items", json={"id": item_id}, headers={"Authorization": token})
        assert created.status_code == 201

        def completed() -> bool:
            read = http.get(f"/items/{item_id}", headers={"Authorization": token})
            return bool(read.json().get("status") == "completed")

        fixture_stack.wait_for(completed, 20)
    messages: list[Any] = []

    def published() -> list[Any]:
        messages.extend(fixture_stack.drain(inbox))
        return messages

    fixture_stack.wait_for(published, 20)
    assert messages == [{"id": item_id, "status": "completed"}]
    text = fixture_stack.output_text()
    assert "[worker] START RequestId:" in text
    assert "[notify] REPORT RequestId:" in text
    assert '[api] {"level": "INFO", "message": "item created", "id": "' + item_id in text


# ---------------------------------------------------------------------- SQS trigger
def test_sqs_event_record_has_the_lambda_shape(fixture_stack: RunningStack) -> None:
    audit: list[dict[str, Any]] = []
    sqs = fixture_stack.aws("sqs")
    body = json.dumps({"id": f"shape-{uuid.uuid4().hex[:6]}", "fail": True})
    sent = sqs.send_message(
        QueueUrl=fixture_stack.outputs["WorkQueueUrl"],
        MessageBody=body,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "probe"}},
    )

    def seen() -> dict[str, Any] | None:
        for entry in _audit(fixture_stack, audit):
            if entry["fn"] == "worker" and entry["record"]["messageId"] == sent["MessageId"]:
                found: dict[str, Any] = entry["record"]
                return found
        return None

    record = fixture_stack.wait_for(seen, 15)
    assert record["body"] == body
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":fx-local-work")
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    for key in ("SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"):
        assert key in record["attributes"]
    assert record["messageAttributes"]["kind"]["stringValue"] == "probe"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_failed_item_of_a_batch_is_retried_alone_then_dead_lettered(
    fixture_stack: RunningStack,
) -> None:
    """Pause the mapping, queue a good and a bad message, resume: one batch holds both. Only the
    bad one comes back (visibility 2 s) and, after maxReceiveCount 2, lands in the DLQ."""
    sqs = fixture_stack.aws("sqs")
    queue = fixture_stack.outputs["WorkQueueUrl"]
    good_id = f"good-{uuid.uuid4().hex[:6]}"
    token = fixture_stack.token("owner@example.com")
    audit: list[dict[str, Any]] = []
    assert fixture_stack.esm("Work", "disable")["State"] == "Disabled"
    try:
        with fixture_stack.http() as http:
            assert (
                http.post(
                    "/items", json={"id": good_id}, headers={"Authorization": token}
                ).status_code
                == 201
            )
        bad = sqs.send_message(QueueUrl=queue, MessageBody="not json at all")
        time.sleep(1.5)  # a paused mapping must not consume
        consumed = [
            a
            for a in _audit(fixture_stack, audit)
            if a["fn"] == "worker"
            and (a["record"]["messageId"] == bad["MessageId"] or good_id in a["record"]["body"])
        ]
        assert consumed == []
    finally:
        assert fixture_stack.esm("Work", "enable")["State"] == "Enabled"

    def deliveries() -> tuple[list[str], list[str]] | None:
        worker = [a["record"] for a in _audit(fixture_stack, audit) if a["fn"] == "worker"]
        bad_counts = [
            r["attributes"]["ApproximateReceiveCount"]
            for r in worker
            if r["messageId"] == bad["MessageId"]
        ]
        good = [r["messageId"] for r in worker if good_id in r["body"]]
        return (good, bad_counts) if len(bad_counts) >= 2 else None

    good, bad_counts = fixture_stack.wait_for(deliveries, 20)
    ours = [
        a["record"]["messageId"]
        for a in audit
        if a["fn"] == "worker"
        and (a["record"]["messageId"] == bad["MessageId"] or good_id in a["record"]["body"])
    ]
    assert set(ours[:2]) == {bad["MessageId"], good[0]}  # both in the first batch
    assert len(good) == 1  # the good message was deleted, never redelivered
    assert bad_counts == ["1", "2"]
    dlq: list[Any] = []

    def dead_lettered() -> bool:
        dlq.extend(fixture_stack.drain(fixture_stack.outputs["WorkDlqUrl"]))
        return "not json at all" in dlq

    fixture_stack.wait_for(dead_lettered, 15)


def test_invocation_error_leaves_the_whole_batch_for_redelivery(
    fixture_stack: RunningStack,
) -> None:
    sqs = fixture_stack.aws("sqs")
    audit: list[dict[str, Any]] = []
    crash = sqs.send_message(
        QueueUrl=fixture_stack.outputs["WorkQueueUrl"], MessageBody=json.dumps({"crash": True})
    )

    def counts() -> list[str] | None:
        seen = [
            a["record"]["attributes"]["ApproximateReceiveCount"]
            for a in _audit(fixture_stack, audit)
            if a["fn"] == "worker" and a["record"]["messageId"] == crash["MessageId"]
        ]
        return seen if len(seen) >= 2 else None

    assert fixture_stack.wait_for(counts, 20) == ["1", "2"]
    assert "RuntimeError: crash requested by the message" in fixture_stack.output_text()


def test_lambda_api_describes_and_updates_the_mappings_for_boto3(
    fixture_stack: RunningStack,
) -> None:
    """ListEventSourceMappings / GetEventSourceMapping / UpdateEventSourceMapping with plain
    boto3 at the stack's Lambda endpoint: Lambda's shapes, stable UUIDs, Lambda's 404."""
    lam = fixture_stack.aws("lambda")
    worker = fixture_stack.function_name("worker")
    listed = lam.list_event_source_mappings(FunctionName=worker)["EventSourceMappings"]
    assert len(listed) == 1
    work = listed[0]
    assert work["UUID"] == fixture_stack.mapping_uuid("Work")  # derived, stable across starts
    assert work["FunctionArn"].endswith(f":function:{worker}")
    assert work["EventSourceArn"].endswith(":fx-local-work")
    assert work["State"] == "Enabled"
    assert work["StateTransitionReason"] == "USER_INITIATED"
    assert work["BatchSize"] == 5
    assert work["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert work["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert work["EventSourceMappingArn"].endswith(f":event-source-mapping:{work['UUID']}")
    by_source = lam.list_event_source_mappings(EventSourceArn=fixture_stack.outputs["StreamArn"])
    terminal = by_source["EventSourceMappings"]
    assert [m["UUID"] for m in terminal] == [fixture_stack.mapping_uuid("Terminal")]
    assert terminal[0]["MaximumRetryAttempts"] == 1
    assert terminal[0]["StartingPosition"] == "TRIM_HORIZON"
    assert terminal[0]["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        ":fx-local-notify-failures"
    )
    assert terminal[0]["FilterCriteria"]["Filters"][0]["Pattern"].startswith('{"eventName"')
    first = lam.list_event_source_mappings(MaxItems=1)
    assert len(first["EventSourceMappings"]) == 1 and first["NextMarker"]
    rest = lam.list_event_source_mappings(Marker=first["NextMarker"])["EventSourceMappings"]
    assert {m["UUID"] for m in rest} | {first["EventSourceMappings"][0]["UUID"]} == {
        fixture_stack.mapping_uuid("Work"),
        fixture_stack.mapping_uuid("Terminal"),
    }

    updated = lam.update_event_source_mapping(UUID=work["UUID"], BatchSize=4)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert updated["BatchSize"] == 4
    assert updated["LastModified"] > work["LastModified"]
    fixture_stack.wait_for(
        lambda: lam.get_event_source_mapping(UUID=work["UUID"])["State"] == "Enabled"
    )
    lam.update_event_source_mapping(UUID=work["UUID"], BatchSize=5)

    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
        lam.get_event_source_mapping(UUID="00000000-0000-4000-8000-000000000000")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (
        missing.value.response["Error"]["Message"] == "The resource you requested does not exist."
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_event_source_mapping(UUID=work["UUID"], MaximumRetryAttempts=3)  # SQS: no


# ---------------------------------------------------------------------- stream trigger
def _put(stack: RunningStack, item_id: str, status: str, **extra: Any) -> None:
    item = {"id": {"S": item_id}, "status": {"S": status}, **extra}
    stack.aws("dynamodb").put_item(TableName=stack.outputs["ItemsTable"], Item=item)


def _set(stack: RunningStack, item_id: str, **values: dict[str, Any]) -> None:
    names = {f"#{k}": k for k in values}
    stack.aws("dynamodb").update_item(
        TableName=stack.outputs["ItemsTable"],
        Key={"id": {"S": item_id}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{k}": v for k, v in values.items()},
    )


def test_stream_records_outside_the_filter_never_reach_the_function(
    fixture_stack: RunningStack,
) -> None:
    """INSERTs, a MODIFY of an unrelated attribute and pending->processing are filtered out;
    a later processing->completed on a control item proves the earlier ones were passed over."""
    audit: list[dict[str, Any]] = []
    excluded = f"excl-{uuid.uuid4().hex[:6]}"
    control = f"ctrl-{uuid.uuid4().hex[:6]}"
    _put(fixture_stack, excluded, "completed")
    _set(fixture_stack, excluded, note={"S": "unrelated change"})
    _put(fixture_stack, control, "pending")
    _set(fixture_stack, control, status={"S": "processing"})
    _set(fixture_stack, control, status={"S": "completed"})

    def notified() -> list[dict[str, Any]] | None:
        records = [a["record"] for a in _audit(fixture_stack, audit) if a["fn"] == "notify"]
        return (
            records if any(r["dynamodb"]["Keys"]["id"]["S"] == control for r in records) else None
        )

    records = fixture_stack.wait_for(notified, 20)
    ids = [r["dynamodb"]["Keys"]["id"]["S"] for r in records]
    assert excluded not in ids
    assert ids.count(control) == 1
    record = next(r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == control)
    assert record["eventName"] == "MODIFY"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventVersion"] == "1.1"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == fixture_stack.outputs["StreamArn"]
    ddb = record["dynamodb"]
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert ddb["OldImage"]["status"] == {"S": "processing"}
    assert ddb["NewImage"]["status"] == {"S": "completed"}
    assert isinstance(ddb["ApproximateCreationDateTime"], int | float)
    assert ddb["SequenceNumber"].isdigit()
    assert isinstance(ddb["SizeBytes"], int)
    assert f'"id": "{excluded}"' not in fixture_stack.output_text()


def test_stream_item_failure_is_retried_then_sent_to_on_failure_queue(
    fixture_stack: RunningStack,
) -> None:
    audit: list[dict[str, Any]] = []
    failing = f"nf-{uuid.uuid4().hex[:6]}"
    _put(fixture_stack, failing, "processing", notifyFail={"BOOL": True})
    _set(fixture_stack, failing, status={"S": "failed"})

    def on_failure() -> list[dict[str, Any]] | None:
        return fixture_stack.drain(fixture_stack.outputs["NotifyFailuresUrl"]) or None

    failures = fixture_stack.wait_for(on_failure, 20)
    attempts = [
        a
        for a in _audit(fixture_stack, audit)
        if a["fn"] == "notify" and a["record"]["dynamodb"]["Keys"]["id"]["S"] == failing
    ]
    assert len(attempts) == 2  # first try + MaximumRetryAttempts 1
    info = failures[0]["DDBStreamBatchInfo"]
    sequence = attempts[0]["record"]["dynamodb"]["SequenceNumber"]
    assert info["startSequenceNumber"] == sequence
    assert info["batchSize"] == 1
    assert info["streamArn"] == fixture_stack.outputs["StreamArn"]
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"


def test_unknown_resource_type_is_a_warning_not_a_crash(fixture_stack: RunningStack) -> None:
    text = fixture_stack.output_text()
    assert "skipping Mystery: resource type AWS::Fictional::Thing is not emulated" in text
    assert "skipping Alarm" not in text  # known non-emulated types are skipped quietly (debug log)
