"""Data protection and least privilege, read from the template and the shared package: data at
rest is encrypted, no function logs events or traces responses, no policy grants wildcard
actions, edge limits are parameters, and a vet's notification carries no owner's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prediag.models import Analysis, Differential, PreDiagnosis, PreDiagnosisRequest
from prediag.notification import build_notification
from prediag.notifier import subject_for
from prediag.triage import triage
from prediag_tools.local.cfn import load_template
from tests.conftest import TEMPLATE

EVENTS = Path(__file__).parents[2] / "events"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_no_function_logs_its_event_or_traces_its_response(template):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    for name, fn in of_type(template, "AWS::Serverless::Function").items():
        own = (fn["Properties"].get("Environment") or {}).get("Variables") or {}
        assert own.get("POWERTOOLS_LOGGER_LOG_EVENT", "false") == "false", name
        assert "POWERTOOLS_DEBUG" not in own, name


def test_tables_queues_and_topics_are_encrypted_at_rest(template):
    tables = of_type(template, "AWS::DynamoDB::Table")
    queues = of_type(template, "AWS::SQS::Queue")
    topics = of_type(template, "AWS::SNS::Topic")
    assert tables and queues and topics
    for name, table in tables.items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), name
    for name, topic in topics.items():
        assert topic["Properties"].get("KmsMasterKeyId"), name


def test_topics_sign_deliveries_with_sha256_for_webhook_receivers(template):
    topics = of_type(template, "AWS::SNS::Topic")
    assert topics
    for name, topic in topics.items():
        assert topic["Properties"].get("SignatureVersion") == "2", name


def test_the_medical_records_table_is_kept_and_recoverable(template):
    table = template["Resources"]["PreDiagnosesTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, fn in of_type(template, "AWS::Serverless::Function").items():
        for policy in fn["Properties"].get("Policies") or []:
            assert isinstance(policy, dict) and "Statement" in policy, (
                f"{name}: only inline statements (no managed policies)"
            )
            found += [(name, s) for s in policy["Statement"]]
    return found


# Actions AWS authorizes on no particular resource: "*" is the only Resource they accept.
UNSCOPED_ACTIONS = {"lambda:ListEventSourceMappings"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_function_policy_grants_a_wildcard_action(template):
    found = statements(template)
    assert found
    for name, statement in found:
        for action in as_list(statement["Action"]):
            assert "*" not in action, (name, statement.get("Sid"), action)


def test_a_resource_wildcard_is_granted_only_for_actions_that_take_no_resource(template):
    for name, statement in statements(template):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPED_ACTIONS, (name, statement["Sid"])


def test_the_api_function_cannot_delete_or_scan_records_and_keeps_keys_in_its_own_table(
    template,
):
    granted = {s["Sid"]: s for name, s in statements(template) if name == "SubmitFunction"}
    records = as_list(granted["Records"]["Action"])
    assert not {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"} & set(records)
    assert granted["IdempotentSubmit"]["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    table_wide = [
        s["Sid"]
        for s in granted.values()
        if {"Fn::GetAtt": ["PreDiagnosesTable", "Arn"]} in as_list(s["Resource"])
        and "dynamodb:DeleteItem" in as_list(s["Action"])
    ]
    assert table_wide == []


def test_throttling_and_the_cors_origin_are_parameters_the_handler_shares(template):
    api = template["Resources"]["PrediagApi"]["Properties"]
    settings = api["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert api["Cors"]["AllowOrigin"] == {"Fn::Sub": "'${CorsAllowedOrigin}'"}
    submit_env = template["Resources"]["SubmitFunction"]["Properties"]["Environment"]
    assert submit_env["Variables"]["CORS_ALLOWED_ORIGIN"] == {"Ref": "CorsAllowedOrigin"}
    assert "*" not in template["Parameters"]["CorsAllowedOrigin"]["Default"]


def test_users_cannot_write_their_own_clinic_and_passwords_travel_only_by_srp_by_default(
    template,
):
    client = template["Resources"]["UserPoolClient"]["Properties"]
    assert "custom:clinic_id" not in client["WriteAttributes"]
    flows = client["ExplicitAuthFlows"]["Fn::If"]
    assert flows[0] == "AllowsPasswordAuth"
    assert "ALLOW_USER_PASSWORD_AUTH" not in flows[2]
    assert template["Parameters"]["PasswordAuthForCli"]["Default"] == "false"


def test_every_checkov_suppression_gives_its_reason(template):
    skips = [
        (name, skip)
        for name, res in template["Resources"].items()
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    ]
    assert skips
    for name, skip in skips:
        assert skip["id"].startswith("CKV_"), name
        assert len(skip.get("comment", "")) >= 30, (name, skip["id"])


# ---------------------------------------------------------------------- notifications
def test_a_vet_notification_carries_what_the_vet_needs_and_a_link_not_the_owners_words():
    words = "Moka swallowed my grandmother's pills; call me on 06 12 34 56 78"
    data = json.loads((EVENTS / "request-normal.json").read_text())
    request = PreDiagnosisRequest.model_validate({**data, "description": words})
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    result = triage(request)
    record = PreDiagnosis(
        id="rec-1",
        user_id="owner-sub-123",
        pet_id=request.pet.id,
        clinic_id=request.clinic_id,
        vet_id=request.vet_id,
        status="completed",
        lane="urgent",
        urgency=result.level,
        request=request,
        triage=result,
        created_at=now,
        updated_at=now,
        analysis=Analysis(
            urgency=result.level,
            triage=result,
            summary="Suspected toxin ingestion",
            differentials=[
                Differential(condition="NSAID toxicity", likelihood=0.6, reasoning=words)
            ],
            confidence=0.7,
        ),
    )
    assert result.flags, "the sample must raise a red flag quoting the owner's words"

    note = build_notification(record, "completed", "https://api.example/dev")
    sent = note.model_dump_json(by_alias=True, exclude_none=True) + subject_for(note)

    assert note.link == "https://api.example/dev/pre-diagnoses/rec-1"
    assert (note.species.value, note.urgency, note.clinic_id) == (
        "dog",
        result.level,
        "clinic-lyon-01",
    )
    assert note.top_differentials == ["NSAID toxicity"]
    for private in ("grandmother", "06 12 34 56 78", "owner-sub-123", "Moka"):
        assert private not in sent
