"""SNS adapter: tells the clinic's vet. Subscriptions filter on clinic, urgency and status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import boto3
from pydantic import Field

from prediag.models import Contract, Species, Status, Urgency

if TYPE_CHECKING:
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

Kind = Literal["completed", "failed", "red_flag"]


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
    what = {
        "completed": "Pre-diagnosis ready",
        "failed": "Pre-diagnosis FAILED - please review manually",
        "red_flag": "Red flag - see now",
    }[note.kind]
    level = note.urgency.value.replace("_", " ").upper()
    return f"[{level}] {what}: {note.species.value}, {note.breed}"[:100]


class SnsNotifier:
    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self.client: SNSClient = client or boto3.client("sns")

    def publish(self, note: VetNotification) -> str:
        def attr(value: str) -> MessageAttributeValueTypeDef:
            return {"DataType": "String", "StringValue": value}

        res = self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject_for(note),
            Message=note.model_dump_json(by_alias=True, exclude_none=True),
            MessageAttributes={
                "clinicId": attr(note.clinic_id),
                "urgency": attr(note.urgency.value),
                "status": attr(note.status.value),
                "kind": attr(note.kind),
            },
        )
        return res["MessageId"]
