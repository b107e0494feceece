"""Registered clinics on the local stack, end to end: the stack registers the demo clinic,
`prediag clinics` registers and (de)activates others, the API refuses a case for a clinic that
is not registered and active, and the per-owner quota answers 429 over HTTP."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import REAL_TEMPLATE

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREDIAG = str(ROOT / ".venv" / "bin" / "prediag")
EVENTS = ROOT / "events"


def prediag(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PREDIAG, *args, "--endpoint", stack.endpoint_url],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip


def case(clinic: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "request-normal.json").read_text())
    return {**body, "clinicId": clinic}


def test_the_demo_clinic_is_registered_and_the_cli_manages_clinics(real_stack: RunningStack):
    clinic = f"clinic-{uuid.uuid4().hex[:8]}"
    owner = real_stack.token(f"owner-{clinic}@example.com")

    def submit() -> int:
        with real_stack.http() as http:
            answer = http.post(
                "/pre-diagnoses", json=case(clinic), headers={"Authorization": owner}
            )
        return answer.status_code

    unknown = submit()
    added = prediag(real_stack, "clinics", "add", clinic, "--name", "Clinique du Test", "--json")
    registered = submit()
    off = prediag(real_stack, "clinics", "deactivate", clinic)
    inactive = submit()
    on = prediag(real_stack, "clinics", "activate", clinic)
    again = submit()
    listed = prediag(real_stack, "clinics", "list", "--json")
    twice = prediag(real_stack, "clinics", "add", clinic, "--name", "Again")

    assert (unknown, registered, inactive, again) == (422, 201, 422, 201)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["clinicId"] == clinic
    assert (off.returncode, on.returncode) == (0, 0)
    items = {c["clinicId"]: c for c in json.loads(listed.stdout)["items"]}
    assert items["clinic-lyon-01"]["active"] is True  # registered by the stack itself
    assert items[clinic]["active"] is True
    assert twice.returncode == 1 and "already registered" in twice.stderr


def test_the_admin_api_registers_a_clinic_and_refuses_everyone_else(real_stack: RunningStack):
    clinic = f"clinic-{uuid.uuid4().hex[:8]}"
    admin = real_stack.token("admin-clinics@example.com", groups=["admins"])
    vet = real_stack.token("vet-clinics@example.com", groups=["vets"], clinic="clinic-lyon-01")
    new = {"clinicId": clinic, "name": "Clinique des Alpes"}

    with real_stack.http() as http:
        by_vet = http.post("/admin/clinics", json=new, headers={"Authorization": vet})
        created = http.post("/admin/clinics", json=new, headers={"Authorization": admin})
        read = http.get(f"/admin/clinics/{clinic}", headers={"Authorization": admin})

    assert by_vet.status_code == 403
    assert created.status_code == 201, created.text
    assert read.json()["name"] == "Clinique des Alpes"


def test_a_fresh_one_off_invocation_has_the_demo_clinic_too():
    done = subprocess.run(
        [PREDIAG, "local", "invoke", "submit", "-e", str(EVENTS / "api-post-pre-diagnosis.json"),
         "--fresh", "-t", str(REAL_TEMPLATE)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["statusCode"] == 201


def test_the_quota_answers_429_over_http_with_retry_after(real_stack: RunningStack):
    owner = real_stack.token(f"owner-quota-{uuid.uuid4().hex[:8]}@example.com")
    statuses = []
    with real_stack.http() as http:
        for _ in range(21):
            answer = http.post(
                "/pre-diagnoses", json=case("clinic-lyon-01"), headers={"Authorization": owner}
            )
            statuses.append(answer.status_code)
    body = answer.json()

    assert statuses == [201] * 20 + [429]
    assert int(answer.headers["Retry-After"]) == body["retryAfterSeconds"] > 3000
    assert {"message", "retryAfterSeconds", "retryAt"} <= set(body)
