"""Pure logic: the contract's validation, urgency order, lane routing, backoff, access rules."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from prediag.access import Caller
from prediag.analysis import JobPolicy
from prediag.models import Lane, PreDiagnosisRequest, Urgency
from prediag.submission import route

EVENTS = Path(__file__).parents[2] / "events"


def sample_request(**changes: object) -> PreDiagnosisRequest:
    data = json.loads((EVENTS / "request-normal.json").read_text())
    data.update(changes)
    return PreDiagnosisRequest.model_validate(data)


def test_urgency_rank_orders_vtl_levels_most_urgent_first():
    assert [u.rank for u in Urgency] == [0, 1, 2, 3, 4]
    assert Urgency.STANDARD.at_least(Urgency.VERY_URGENT) is Urgency.VERY_URGENT
    assert Urgency.IMMEDIATE.at_least(Urgency.STANDARD) is Urgency.IMMEDIATE
    assert Urgency.most_urgent([Urgency.URGENT, Urgency.IMMEDIATE]) is Urgency.IMMEDIATE


def test_urgency_carries_vtl_colour_and_target_time():
    assert (Urgency.IMMEDIATE.colour, Urgency.IMMEDIATE.target_minutes) == ("red", 0)
    assert (Urgency.NON_URGENT.colour, Urgency.NON_URGENT.target_minutes) == ("blue", 240)


def test_sample_request_validates_with_camel_case_names():
    req = sample_request()
    assert req.pet.weight_kg == 31.5
    assert req.dump()["pet"]["weightKg"] == 31.5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symptoms": []}, "symptoms"),
        ({"description": ""}, "description"),
        ({"onset": "yesterday"}, "onset"),
        ({"ownerLocale": "de"}, "ownerLocale"),
        ({"clinicId": "bad id with spaces"}, "clinicId"),
        ({"unexpected": 1}, "unexpected"),
        ({"symptoms": ["x" * 101]}, "symptoms"),
    ],
)
def test_invalid_request_names_the_offending_field(change: dict[str, object], field: str):
    with pytest.raises(ValidationError) as info:
        sample_request(**change)
    locs = {str(e["loc"][0]) for e in info.value.errors(include_url=False)}
    assert field in locs


@pytest.mark.parametrize(
    ("pet_change", "field"),
    [
        ({"species": "dragon"}, "species"),
        ({"weightKg": 0}, "weightKg"),
        ({"ageYears": -1}, "ageYears"),
    ],
)
def test_invalid_pet_field_is_named(pet_change: dict[str, object], field: str):
    data = json.loads((EVENTS / "request-normal.json").read_text())
    data["pet"].update(pet_change)
    with pytest.raises(ValidationError) as info:
        PreDiagnosisRequest.model_validate(data)
    assert ("pet", field) in {tuple(e["loc"][:2]) for e in info.value.errors()}


@pytest.mark.parametrize(
    ("level", "priority", "lane"),
    [
        (Urgency.IMMEDIATE, None, Lane.URGENT),
        (Urgency.VERY_URGENT, None, Lane.URGENT),
        (Urgency.URGENT, None, Lane.NORMAL),
        (Urgency.STANDARD, None, Lane.NORMAL),
        (Urgency.STANDARD, "urgent", Lane.URGENT),
        (Urgency.IMMEDIATE, "normal", Lane.NORMAL),
    ],
)
def test_route_sends_immediate_and_very_urgent_to_the_urgent_lane_unless_told(
    level: Urgency, priority: str | None, lane: Lane
):
    assert route(sample_request(priority=priority), level) is lane


def test_backoff_doubles_from_two_seconds_like_the_old_worker():
    policy = JobPolicy(max_attempts=3, backoff_base_seconds=2)
    assert [policy.backoff(n) for n in (1, 2, 3)] == [2, 4, 8]


def _record_for(user: str, clinic: str):
    from datetime import UTC, datetime

    from prediag.models import PreDiagnosis, Status, TriageResult

    now = datetime.now(UTC)
    return PreDiagnosis(
        id="r1",
        user_id=user,
        pet_id="p",
        clinic_id=clinic,
        status=Status.PENDING,
        lane=Lane.NORMAL,
        urgency=Urgency.STANDARD,
        request=sample_request(),
        triage=TriageResult(level=Urgency.STANDARD, rules_version="t"),
        created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [
        (Caller("owner"), True),
        (Caller("someone-else"), False),
        (Caller("vet", frozenset({"vets"}), "clinic-a"), True),
        (Caller("vet", frozenset({"vets"}), "clinic-b"), False),
        (Caller("vet-no-clinic", frozenset({"vets"}), None), False),
        (Caller("not-a-vet", frozenset(), "clinic-a"), False),
        (Caller("ops", frozenset({"admins"})), True),
    ],
)
def test_only_owner_clinic_vet_or_admin_may_read_a_record(caller: Caller, allowed: bool):
    assert caller.can_read(_record_for("owner", "clinic-a")) is allowed
