"""Use case: the registered clinics. A clinic exists before a case can name it.

Admins register clinics and change them (name, active) through the CLI (`prediag clinics`) or
the admin API (`/admin/clinics`). A case naming a clinic that is not registered, or not active,
is refused (`UnknownClinicError`: a 422 on `clinicId`); a vet whose `custom:clinic_id` is not a
registered, active clinic sees nothing of any clinic (see prediag.access). A clinic is never
deleted: its cases keep naming it, and deactivating it is what stops new ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import Field, model_validator

from prediag.errors import NotFoundError, UnknownClinicError
from prediag.models import Contract, Identifier, ShortText, utcnow


class Clinic(Contract):
    """A registered clinic (an item of the clinics table; the body of /admin/clinics routes)."""

    clinic_id: Identifier = Field(
        description="What cases name as `clinicId`, and vets carry as `custom:clinic_id`"
    )
    name: ShortText = Field(description="The clinic's name, for people")
    active: bool = Field(default=True, description="Only an active clinic takes new cases")
    created_at: datetime
    updated_at: datetime


class NewClinic(Contract):
    """Body of POST /admin/clinics."""

    clinic_id: Identifier
    name: ShortText
    active: bool = Field(default=True, strict=True)


class ClinicChange(Contract):
    """Body of POST /admin/clinics/{clinicId}: what changes (at least one field)."""

    name: ShortText | None = None
    active: bool | None = Field(default=None, strict=True)

    @model_validator(mode="after")
    def _something(self) -> ClinicChange:
        if self.name is None and self.active is None:
            raise ValueError("give name, active, or both")
        return self


class ClinicList(Contract):
    """Body of GET /admin/clinics: every registered clinic, by id."""

    items: list[Clinic]


class ClinicDirectory(Protocol):
    """Port: where the registered clinics live (prediag.clinic_registry.DynamoClinics)."""

    def get(self, clinic_id: str) -> Clinic | None: ...
    def create(self, clinic: Clinic) -> Clinic: ...
    def update(
        self, clinic_id: str, *, name: str | None, active: bool | None, now: datetime
    ) -> Clinic: ...
    def all(self) -> list[Clinic]: ...


def is_active(directory: ClinicDirectory, clinic_id: str | None) -> bool:
    """Whether `clinic_id` is a registered clinic that takes cases."""
    if not clinic_id:
        return False
    clinic = directory.get(clinic_id)
    return clinic is not None and clinic.active


def require_active(directory: ClinicDirectory, clinic_id: str) -> None:
    """UnknownClinicError unless `clinic_id` is a registered, active clinic."""
    if not is_active(directory, clinic_id):
        raise UnknownClinicError(clinic_id)


def register(directory: ClinicDirectory, new: NewClinic, now: datetime | None = None) -> Clinic:
    """Register a clinic; ConflictError if its id is taken."""
    now = now or utcnow()
    clinic = Clinic(
        clinic_id=new.clinic_id, name=new.name, active=new.active, created_at=now, updated_at=now
    )
    return directory.create(clinic)


def change(
    directory: ClinicDirectory, clinic_id: str, what: ClinicChange, now: datetime | None = None
) -> Clinic:
    """Rename, deactivate or reactivate a clinic; NotFoundError if it is not registered."""
    return directory.update(clinic_id, name=what.name, active=what.active, now=now or utcnow())


def get(directory: ClinicDirectory, clinic_id: str) -> Clinic:
    clinic = directory.get(clinic_id)
    if clinic is None:
        raise NotFoundError(f"clinic {clinic_id} is not registered")
    return clinic


def listing(directory: ClinicDirectory) -> ClinicList:
    return ClinicList(items=sorted(directory.all(), key=lambda c: c.clinic_id))
