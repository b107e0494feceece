"""What the API answers about pre-diagnoses: the 201 body and the listing's summaries."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from prediag.models import Contract, Lane, PreDiagnosis, Species, Status, Urgency


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
            id=record.id,
            user_id=record.user_id,
            pet_id=record.pet_id,
            pet_name=record.request.pet.name,
            species=record.request.pet.species,
            clinic_id=record.clinic_id,
            vet_id=record.vet_id,
            status=record.status,
            lane=record.lane,
            urgency=record.urgency,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class PreDiagnosisPage(Contract):
    """Body of GET /pre-diagnoses: newest first; `nextCursor` fetches the next page."""

    items: list[PreDiagnosisSummary]
    next_cursor: str | None = Field(
        default=None, description="Opaque; null on the last page. Pass it back as `cursor`."
    )
