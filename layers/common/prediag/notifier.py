"""SNS adapter: tells the clinic's vet. Subscriptions filter on clinic, urgency and status.

The Subject and the message attributes are built from controlled values only (the urgency,
the species, the kind and status, the record id, the registered clinic id): never from what
the owner typed. The message body is the `VetNotification` (what the README promises it
carries). Before publishing, the message is checked against SNS's documented limits
(`check_publishable`), so a message SNS would refuse is an error here, named, not a rejected
call: a Subject of UTF-8 text with no line break or control character, fewer than 100
characters; a message (with its attributes) of at most 256 KiB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import boto3
from pydantic import Field

from prediag.models import Contract, Species, Status, Urgency
from prediag.text import is_plain

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

Kind = Literal["completed", "failed", "red_flag"]

SUBJECT_MAX_CHARS = 99
"""SNS: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
100 characters long"."""
MESSAGE_MAX_BYTES = 256 * 1024
"""SNS: a message, its attributes included, is at most 256 KB (262,144 bytes)."""

_WHAT: dict[Kind, str] = {
    "completed": "Pre-diagnosis ready",
    "failed": "Pre-diagnosis FAILED - review it",
    "red_flag": "Red flag - see now",
}


class UnpublishableNotification(ValueError):
    """The message breaks a limit of SNS's Publish: it would be refused."""


class VetNotification(Contract):
    """What the vet is told: enough to act, and a link; never the owner's own words."""

    kind: Kind
    id: str
    clinic_id: str
    vet_id: str | None = None
    status: Status
    urgency: Urgency
    colour: str
    see_within_minutes: int
    species: Species
    breed: str
    age_years: float
    weight_kg: float
    red_flags: list[str] = Field(default_factory=list)
    top_differentials: list[str] = Field(default_factory=list)
    degraded: bool = False
    failure_reason: str | None = None
    link: str | None = None


class Notifier(Protocol):
    """Port: delivers one notification about one record."""

    def publish(self, note: VetNotification) -> str: ...


def subject_for(note: VetNotification) -> str:
    """`[LEVEL] what: species (id)`; without the id when it would not fit."""
    level = note.urgency.value.replace("_", " ").upper()
    head = f"[{level}] {_WHAT[note.kind]}: {note.species.value}"
    with_id = f"{head} ({note.id})"
    return with_id if len(with_id) <= SUBJECT_MAX_CHARS else head


def attributes_for(note: VetNotification) -> dict[str, str]:
    """What subscriptions filter on."""
    return {
        "clinicId": note.clinic_id,
        "urgency": note.urgency.value,
        "status": note.status.value,
        "kind": note.kind,
    }


def check_subject(subject: str) -> None:
    if not subject or len(subject) > SUBJECT_MAX_CHARS:
        raise UnpublishableNotification(
            f"the Subject has {len(subject)} characters; SNS takes 1 to {SUBJECT_MAX_CHARS}"
        )
    if not is_plain(subject):
        raise UnpublishableNotification(
            "the Subject holds a line break, control or format character"
        )
    try:
        subject.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnpublishableNotification("the Subject is not UTF-8 text") from exc


def message_bytes(message: str, attributes: dict[str, str]) -> int:
    """The size SNS counts: the message and each attribute's name, type and value."""
    size = len(message.encode("utf-8"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(b"String") + len(value.encode("utf-8"))
    return size


def check_publishable(subject: str, message: str, attributes: dict[str, str]) -> None:
    """UnpublishableNotification when SNS would refuse this Publish."""
    check_subject(subject)
    if not message:
        raise UnpublishableNotification("the message is empty")
    for name, value in attributes.items():
        if not value or not is_plain(value):
            raise UnpublishableNotification(f"the attribute {name} is empty or not plain text")
    try:
        size = message_bytes(message, attributes)
    except UnicodeEncodeError as exc:
        raise UnpublishableNotification("the message is not UTF-8 text") from exc
    if size > MESSAGE_MAX_BYTES:
        raise UnpublishableNotification(
            f"the message is {size} bytes with its attributes; SNS takes {MESSAGE_MAX_BYTES}"
        )


class SnsNotifier:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self.client: SNSClient = client or boto3.client("sns")

    def publish(self, note: VetNotification) -> str:
        def attr(value: str) -> MessageAttributeValueTypeDef:
            return {"DataType": "String", "StringValue": value}

        subject = subject_for(note)
        message = note.model_dump_json(by_alias=True, exclude_none=True)
        attributes = attributes_for(note)
        check_publishable(subject, message, attributes)
        res = self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={name: attr(value) for name, value in attributes.items()},
        )
        return res["MessageId"]
