"""What the vet's SNS message is made of: a Subject and attributes from controlled values only,
and SNS's documented limits checked before publishing (Subject: UTF-8, no line break or control
character, fewer than 100 characters; message with its attributes: at most 256 KiB)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from prediag.models import PreDiagnosis, PreDiagnosisRequest, Species, Status, Urgency
from prediag.notification import build_notification
from prediag.notifier import (
    MESSAGE_MAX_BYTES,
    SUBJECT_MAX_CHARS,
    SnsNotifier,
    UnpublishableNotification,
    VetNotification,
    attributes_for,
    check_publishable,
    check_subject,
    message_bytes,
    subject_for,
)
from prediag.text import is_plain
from prediag.triage import triage

EVENTS = Path(__file__).parents[2] / "events"
KINDS = ["completed", "failed", "red_flag"]
TOPIC = "arn:aws:sns:us-east-1:123456789012:vet"


def note(**changes: Any) -> VetNotification:
    data: dict[str, Any] = {
        "kind": "completed",
        "id": str(uuid.uuid4()),
        "clinic_id": "clinic-lyon-01",
        "status": Status.COMPLETED,
        "urgency": Urgency.STANDARD,
        "colour": "green",
        "see_within_minutes": 120,
        "species": Species.DOG,
        "breed": "Labrador",
        "age_years": 6,
        "weight_kg": 31.5,
    }
    return VetNotification(**(data | changes))


def assert_sns_takes_the_subject(subject: str) -> None:
    assert 0 < len(subject) < 100
    assert is_plain(subject)
    assert all(ch.isprintable() for ch in subject)
    subject.encode("utf-8")


# ---------------------------------------------------------------------- the Subject
def test_the_subject_limit_is_fewer_than_100_characters():
    assert SUBJECT_MAX_CHARS == 99
    check_subject("x" * 99)
    with pytest.raises(UnpublishableNotification):
        check_subject("x" * 100)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("urgency", list(Urgency))
@pytest.mark.parametrize("species", list(Species))
def test_every_subject_names_urgency_kind_species_and_id_within_sns_rules(kind, urgency, species):
    n = note(kind=kind, urgency=urgency, species=species)
    subject = subject_for(n)
    assert_sns_takes_the_subject(subject)
    assert subject.startswith(f"[{urgency.value.replace('_', ' ').upper()}] ")
    assert species.value in subject
    assert f"({n.id})" in subject  # a generated id always fits


def test_a_subject_leaves_out_an_id_too_long_to_fit_rather_than_cut_it():
    n = note(kind="failed", urgency=Urgency.VERY_URGENT, species=Species.REPTILE, id="r" * 64)
    subject = subject_for(n)
    assert_sns_takes_the_subject(subject)
    assert "r" * 10 not in subject
    assert subject == "[VERY URGENT] Pre-diagnosis FAILED - review it: reptile"


@pytest.mark.parametrize(
    "breed",
    ["Lab\x85rador", "Lab\u2028rador", "\u202eodarbaL", "Lab\ufffe", "x" * 100],
    ids=["NEL", "LS", "RLO", "FFFE", "100-chars"],
)
def test_the_subject_and_attributes_never_carry_what_the_owner_typed(breed):
    # even a breed that validation refuses today could not reach the Subject
    n = note(breed=breed, kind="red_flag", urgency=Urgency.IMMEDIATE)
    subject, attributes = subject_for(n), attributes_for(n)
    assert_sns_takes_the_subject(subject)
    assert breed not in subject and "Lab" not in subject
    assert set(attributes) == {"clinicId", "urgency", "status", "kind"}
    assert all(breed not in value for value in attributes.values())


@pytest.mark.parametrize(
    "subject",
    ["line\nbreak", "carriage\rreturn", "next\x85line", "sep\u2028arator", "tab\there", ""],
    ids=["LF", "CR", "NEL", "LS", "TAB", "empty"],
)
def test_a_subject_sns_would_refuse_is_refused_before_publishing(subject):
    with pytest.raises(UnpublishableNotification):
        check_subject(subject)


# ---------------------------------------------------------------------- accepted requests
def _words() -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=100)


@st.composite
def accepted_requests(draw: st.DrawFn) -> PreDiagnosisRequest:
    data: dict[str, Any] = json.loads((EVENTS / "request-normal.json").read_text())
    data["pet"]["name"] = draw(_words())
    data["pet"]["breed"] = draw(_words())
    data["pet"]["species"] = draw(st.sampled_from([s.value for s in Species]))
    data["symptoms"] = draw(st.lists(_words(), min_size=1, max_size=3))
    data["description"] = draw(st.text(min_size=1, max_size=300))
    try:
        return PreDiagnosisRequest.model_validate(data)
    except ValidationError:
        assume(False)
        raise


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(request=accepted_requests(), kind=st.sampled_from(KINDS))
def test_no_subject_built_from_an_accepted_request_breaks_sns_rules(request, kind):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    result = triage(request)
    record = PreDiagnosis(
        id=str(uuid.uuid4()),
        user_id="owner",
        pet_id=request.pet.id,
        clinic_id=request.clinic_id,
        status={"completed": "completed", "failed": "failed", "red_flag": "pending"}[kind],
        lane="normal",
        urgency=result.level,
        request=request,
        triage=result,
        created_at=now,
        updated_at=now,
        failure_reason="no AI provider answered" if kind == "failed" else None,
    )
    n = build_notification(record, kind, "https://api.example/dev")
    subject = subject_for(n)
    message = n.model_dump_json(by_alias=True, exclude_none=True)

    assert_sns_takes_the_subject(subject)
    check_publishable(subject, message, attributes_for(n))
    # Nothing the owner typed reaches the subject: the same record with other words has the same
    # subject (a typed word may still occur in it by chance, e.g. the name "hors" in "horse").
    pet = request.pet.model_copy(update={"name": "Rex", "breed": "mixed"})
    neutral_request = request.model_copy(
        update={"pet": pet, "symptoms": ["cough"], "description": "a cough"}
    )
    neutral = build_notification(
        record.model_copy(update={"request": neutral_request}), kind, "https://api.example/dev"
    )
    assert subject_for(neutral) == subject


# ---------------------------------------------------------------------- the message size
def test_a_message_of_256_kib_with_its_attributes_is_taken_and_one_byte_more_is_not():
    attributes = {"urgency": "standard"}
    overhead = message_bytes("", attributes)
    check_publishable("s", "x" * (MESSAGE_MAX_BYTES - overhead), attributes)
    with pytest.raises(UnpublishableNotification):
        check_publishable("s", "x" * (MESSAGE_MAX_BYTES - overhead + 1), attributes)


def test_the_size_counts_utf8_bytes_not_characters():
    assert message_bytes("é" * 10, {}) == 20
    with pytest.raises(UnpublishableNotification):
        check_publishable("s", "é" * (MESSAGE_MAX_BYTES // 2 + 1), {})


def _stubbed_notifier() -> tuple[SnsNotifier, Stubber]:
    client = boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return SnsNotifier(TOPIC, client), Stubber(client)


def test_the_notifier_publishes_the_checked_subject_message_and_attributes():
    notifier, stubber = _stubbed_notifier()
    n = note(kind="red_flag", urgency=Urgency.IMMEDIATE)
    expected = {
        "TopicArn": TOPIC,
        "Subject": subject_for(n),
        "Message": n.model_dump_json(by_alias=True, exclude_none=True),
        "MessageAttributes": {
            k: {"DataType": "String", "StringValue": v} for k, v in attributes_for(n).items()
        },
    }
    stubber.add_response("publish", {"MessageId": "m-1"}, expected)
    with stubber:
        assert notifier.publish(n) == "m-1"
    stubber.assert_no_pending_responses()


def test_the_notifier_never_calls_sns_with_a_message_sns_would_refuse():
    notifier, stubber = _stubbed_notifier()
    huge = note(top_differentials=["x" * MESSAGE_MAX_BYTES])
    with stubber, pytest.raises(UnpublishableNotification):
        notifier.publish(huge)  # the stub has no response: a call would fail differently
