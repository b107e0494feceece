"""Listing pre-diagnoses by status, for operators (admin routes, CLI)."""

from __future__ import annotations

from prediag.models import PreDiagnosis, Status
from prediag.repository import DynamoRepository


def list_by_status(
    repo: DynamoRepository, status: Status, *, limit: int = 20
) -> list[PreDiagnosis]:
    """The newest records in `status`."""
    ids, _ = repo.ids(status, limit=limit)
    return repo.get_many(ids)
