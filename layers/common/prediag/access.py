"""Use case: who may read which pre-diagnoses (owners, vets of a clinic, admins).

A vet acts for their clinic only while it is a registered, active clinic (prediag.clinics): a
vet whose `custom:clinic_id` names no such clinic reads no record of any clinic (404, as for
any record they may not see) and listing their clinic's records is refused (403, saying why),
so a deactivated clinic's vets lose its records at once. They may still read what they
submitted themselves, like any owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prediag.clinics import ClinicDirectory, is_active
from prediag.errors import ForbiddenError, InvalidRequestError, NotFoundError
from prediag.indexes import RecordPage
from prediag.models import PreDiagnosis
from prediag.repository import DynamoRepository


@dataclass(frozen=True)
class Caller:
    """Who is calling the API, from the Cognito claims the authorizer passed on."""

    user_id: str
    groups: frozenset[str] = field(default_factory=frozenset)
    clinic_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admins" in self.groups

    @property
    def is_vet(self) -> bool:
        return "vets" in self.groups and bool(self.clinic_id)

    def can_read(self, record: PreDiagnosis) -> bool:
        if self.is_admin or record.user_id == self.user_id:
            return True
        return self.is_vet and record.clinic_id == self.clinic_id


def may_read(caller: Caller, record: PreDiagnosis, clinics: ClinicDirectory) -> bool:
    """`Caller.can_read`, with a vet's clinic still registered and active."""
    if not caller.can_read(record):
        return False
    if caller.is_admin or record.user_id == caller.user_id:
        return True
    return is_active(clinics, caller.clinic_id)


def read(
    record_id: str, caller: Caller, repo: DynamoRepository, clinics: ClinicDirectory
) -> PreDiagnosis:
    """The record, if the caller may see it; NotFoundError otherwise (no existence leak)."""
    record = repo.get(record_id)
    if record is None or not may_read(caller, record, clinics):
        raise NotFoundError(f"pre-diagnosis {record_id} not found")
    return record


@dataclass(frozen=True)
class Listing:
    """Which records a listing reads: one partition of one index."""

    index: str
    key: str
    value: str


def listing_for(caller: Caller, *, clinic_id: str | None, user_id: str | None) -> Listing:
    """What `caller` may list. An owner lists their own records, a vet their clinic's; an admin
    names exactly one clinic or owner. ForbiddenError for a filter the caller may not use."""
    if caller.is_admin:
        if bool(clinic_id) == bool(user_id):
            raise InvalidRequestError(
                "clinicId" if clinic_id else "userId",
                "admins list by exactly one of clinicId or userId",
            )
        if clinic_id:
            return Listing("byClinic", "clinicId", clinic_id)
        return Listing("byUser", "userId", str(user_id))
    if caller.is_vet:
        if user_id or (clinic_id and clinic_id != caller.clinic_id):
            raise ForbiddenError("a vet lists the records of their own clinic only")
        return Listing("byClinic", "clinicId", str(caller.clinic_id))
    if clinic_id or (user_id and user_id != caller.user_id):
        raise ForbiddenError("an owner lists their own records only")
    return Listing("byUser", "userId", caller.user_id)


def list_records(
    caller: Caller,
    repo: DynamoRepository,
    clinics: ClinicDirectory,
    *,
    limit: int = 20,
    cursor: str | None = None,
    clinic_id: str | None = None,
    user_id: str | None = None,
) -> RecordPage:
    """A page of the records `caller` may see, newest first."""
    scope = listing_for(caller, clinic_id=clinic_id, user_id=user_id)
    if scope.index == "byClinic" and not caller.is_admin and not is_active(clinics, scope.value):
        raise ForbiddenError("this vet's clinic is not a registered, active clinic")
    try:
        return repo.query(scope.index, scope.key, scope.value, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidRequestError("cursor", "cursor is not valid for this listing") from exc
