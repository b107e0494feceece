"""What the API answers about pre-diagnoses: the 201 body and the listing's summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from prediag.models import Contract, Lane, PreDiagnosis, Species, Status, Urgency

SUMMARY_FIELDS = ("id", "clinic_id", "status", "lane", "urgency", "created_at", "updated_at")


def fields_of(record: PreDiagnosis, *more: str) -> dict[str, Any]:
    """The record's fields every summary of it shows (SUMMARY_FIELDS), and `more`."""
    return {name: getattr(record, name) for name in (*SUMMARY_FIELDS, *more)}


class Accepted(Contract):
    """Body of the 201 answer."""

    id: str
    status: Status
    urgency: Urgency
    lane: Lane


class PreDiagnosisSummary(Contract):
    """One line of GET /pre-diagnoses: enough to pick a case, not the owner's own words."""

    id: str
    user_id: str
    pet_id: str
    pet_name: str | None = None
    species: Species
    clinic_id: str
    vet_id: str | None = None
    status: Status
    lane: Lane
    urgency: Urgency
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: PreDiagnosis) -> PreDiagnosisSummary:
        return cls(
            **fields_of(record, "user_id", "pet_id", "vet_id"),
            pet_name=record.request.pet.name,
            species=record.request.pet.species,
        )


class PreDiagnosisPage(Contract):
    """Body of GET /pre-diagnoses: newest first; `nextCursor` fetches the next page."""

    items: list[PreDiagnosisSummary]
    next_cursor: str | None = Field(
        default=None, description="Opaque; null on the last page. Pass it back as `cursor`."
    )
