"""Pydantic models: the contract between the API, the queue, the table and the models.

Field names on the wire are camelCase (what the mobile app sends); Python code uses snake_case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from prediag import text


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base for every model that crosses a boundary: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        allow_inf_nan=False,
    )

    def dump(self) -> dict[str, Any]:
        """JSON-ready dict with wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Urgency(StrEnum):
    """Veterinary Triage List (Ruys et al. 2012): five levels, most urgent first."""

    IMMEDIATE = "immediate"
    VERY_URGENT = "very_urgent"
    URGENT = "urgent"
    STANDARD = "standard"
    NON_URGENT = "non_urgent"

    @property
    def rank(self) -> int:
        """0 is the most urgent level, 4 the least."""
        return _URGENCY_ORDER.index(self)

    @property
    def colour(self) -> str:
        return _URGENCY_COLOUR[self]

    @property
    def target_minutes(self) -> int:
        return _URGENCY_TARGET_MINUTES[self]

    def at_least(self, floor: Urgency) -> Urgency:
        """This level, raised to `floor` if `floor` is more urgent."""
        return floor if floor.rank < self.rank else self

    @classmethod
    def most_urgent(cls, levels: list[Urgency]) -> Urgency:
        return min(levels, key=lambda u: u.rank) if levels else cls.NON_URGENT


_URGENCY_ORDER = list(Urgency)
_URGENCY_COLOUR = {
    Urgency.IMMEDIATE: "red",
    Urgency.VERY_URGENT: "orange",
    Urgency.URGENT: "yellow",
    Urgency.STANDARD: "green",
    Urgency.NON_URGENT: "blue",
}
_URGENCY_TARGET_MINUTES = {
    Urgency.IMMEDIATE: 0,
    Urgency.VERY_URGENT: 15,
    Urgency.URGENT: 60,
    Urgency.STANDARD: 120,
    Urgency.NON_URGENT: 240,
}


class Status(StrEnum):
    """Where a pre-diagnosis is in its life (see docs/operations.md, "Life of a pre-diagnosis").

    `refused` is a submission whose job never reached the queue (the caller was answered 503):
    it was never accepted, so it is never analysed, listed as failed, redriven or notified.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUSED = "refused"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED, Status.REFUSED)


class Lane(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class Species(StrEnum):
    DOG = "dog"
    CAT = "cat"
    RABBIT = "rabbit"
    RODENT = "rodent"
    FERRET = "ferret"
    BIRD = "bird"
    REPTILE = "reptile"
    HORSE = "horse"
    OTHER = "other"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    MALE_NEUTERED = "male_neutered"
    FEMALE_SPAYED = "female_spayed"
    UNKNOWN = "unknown"

    @property
    def is_male(self) -> bool:
        return self in (Sex.MALE, Sex.MALE_NEUTERED)


class Onset(StrEnum):
    """How long ago the signs started."""

    UNDER_1_HOUR = "under_1_hour"
    HOURS = "1_to_24_hours"
    DAYS = "1_to_7_days"
    WEEKS = "over_7_days"
    UNKNOWN = "unknown"


Locale = Literal["en", "fr"]
# Text is text (prediag.text): no control, format or separator character, no noncharacter,
# wherever it stands; the multi-line description alone keeps tabs and line feeds.
ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=text.SINGLE_LINE_PATTERN),
    BeforeValidator(text.single_line),
]
FreeText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4000, pattern=text.MULTI_LINE_PATTERN),
    BeforeValidator(text.multi_line),
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]


def _thousandths(value: float) -> float:
    return round(value, 3)


# Measures keep three decimals (grams, hours): no denormal value reaches the table.
Thousandths = Annotated[float, AfterValidator(_thousandths)]


class Pet(Contract):
    id: Identifier = Field(description="The app's id for this animal")
    name: ShortText | None = None
    species: Species
    breed: ShortText = Field(description="Breed, or 'unknown' / 'mixed'")
    age_years: Thousandths = Field(
        ge=0, le=60, strict=True, description="Age in years (0.25 = three months)"
    )
    weight_kg: Thousandths = Field(
        ge=0.001, le=1500, strict=True, description="Body weight in kilograms"
    )
    sex: Sex


class PreDiagnosisRequest(Contract):
    """What the app POSTs to /pre-diagnoses."""

    pet: Pet
    symptoms: list[ShortText] = Field(
        min_length=1, max_length=20, description="Symptoms picked or typed by the owner"
    )
    description: FreeText = Field(description="The owner's own words about what is happening")
    onset: Onset
    clinic_id: Identifier
    vet_id: Identifier | None = None
    owner_locale: Locale = "en"
    priority: Lane | None = Field(
        default=None,
        description="Explicit lane; by default the red-flag triage routes the case",
    )


class RedFlag(Contract):
    """One deterministic rule that matched the owner's text."""

    code: str
    level: Urgency
    label: str
    matched: str = Field(description="The words in the owner's text that matched")


class TriageResult(Contract):
    level: Urgency
    flags: list[RedFlag] = Field(default_factory=list)
    rules_version: str


class QueueMessage(Contract):
    """Body of a job (an SQS message): a pointer to its record, which owns the job's life.

    `dispatch` is the record's `redrives` count when the job was sent: a job whose dispatch is
    behind its record's (the record was redriven since) is obsolete and is dropped.
    """

    pre_diagnosis_id: Identifier
    user_id: str
    pet_id: str
    dispatch: int = Field(default=0, ge=0)


ProviderFailureKind = Literal[
    "timeout",
    "rate_limited",
    "server_error",
    "invalid_output",
    "refused",
    "auth_error",
    "bad_request",
    "connection_error",
    "error",
]
"""Why a provider gave no usable answer."""


class ProviderOutcome(Contract):
    """What one AI provider did for one analysis."""

    provider: str
    model: str
    outcome: Literal["ok", "skipped"] | ProviderFailureKind
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = Field(
        default=None, description="Why the provider failed, in short; never a secret or owner text"
    )
    status_code: int | None = Field(
        default=None,
        description="The HTTP error status the provider answered; absent when the failure was "
        "not an HTTP error (no connection, timeout, unusable answer)",
    )
    error_code: str | None = Field(
        default=None,
        description="The provider's or AWS's error code or type (rate_limit_error, "
        "invalid_api_key, ThrottlingException...), or the transport cause (ConnectionRefused, "
        "ConnectTimeout, ReadTimeout...)",
    )
    retries: int | None = Field(
        default=None, ge=0, description="Retries the SDK made before this outcome, when known"
    )


class Attempt(Contract):
    """One attempt at analysing a pre-diagnosis, and why it failed when it did."""

    number: int
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Literal["running", "succeeded", "failed"] = "running"
    error: str | None = Field(default=None, description="Why the attempt failed, in short")
    providers: list[ProviderOutcome] = Field(
        default_factory=list,
        description="Each AI provider's outcome in this attempt (kind, status, error, cost)",
    )


class Differential(Contract):
    condition: str
    likelihood: float = Field(ge=0, le=1)
    reasoning: str
    supported_by: list[str] = Field(default_factory=list)


class Analysis(Contract):
    """The validated pre-diagnosis a vet reads."""

    urgency: Urgency
    triage: TriageResult
    summary: str
    differentials: list[Differential] = Field(default_factory=list)
    red_flags: list[str] = Field(default_factory=list)
    owner_advice: list[str] = Field(default_factory=list)
    vet_questions: list[str] = Field(default_factory=list)
    suggested_tests: list[str] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    disagreements: list[str] = Field(default_factory=list)
    providers: list[ProviderOutcome] = Field(default_factory=list)
    degraded: bool = False
    missing_providers: list[str] = Field(default_factory=list)
    method: Literal["triage_only", "ensemble"] = "triage_only"
    prompt_version: str | None = Field(
        default=None, description="Version of the system prompt the providers received"
    )


class SentNotification(Contract):
    """One message the notify function published to the vet about a record."""

    kind: Literal["completed", "failed", "red_flag"]
    status: Status = Field(description="The record's status the notification told")
    urgency: Urgency
    version: int = Field(description="The record's version the notification was about")
    sent_at: datetime
    message_id: str = Field(description="The SNS message id")


class PreDiagnosis(Contract):
    """The record in the table (and the body of GET /pre-diagnoses/{id})."""

    id: Identifier
    user_id: str
    pet_id: str
    clinic_id: str
    vet_id: str | None = None
    status: Status
    lane: Lane
    urgency: Urgency = Field(description="Triage level at submit; the analysis' level once done")
    request: PreDiagnosisRequest
    triage: TriageResult
    created_at: datetime
    updated_at: datetime
    version: int = 1
    attempts: list[Attempt] = Field(default_factory=list)
    analysis: Analysis | None = None
    failure_reason: str | None = None
    redrives: int = Field(default=0, description="Times an operator sent it back for analysis")
    dead_lettered: bool = Field(
        default=False, description="A failed record's job is in the dead-letter queue"
    )
    attempt_started_ms: int | None = Field(
        default=None,
        exclude=True,
        description="Start of the latest attempt (epoch ms): what makes an attempt stale",
    )
    notifications: list[SentNotification] = Field(
        default_factory=list,
        exclude=True,
        description="The notifications sent to the vet (operators read them: GET /admin/jobs)",
    )
