"""Authentication end to end on the local stack: `prediag token` issues ID tokens the emulated
Cognito authorizer accepts, the claims reach the API as API Gateway renders them, and the access
rules hold over HTTP."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import RunningStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREDIAG = ROOT / ".venv" / "bin" / "prediag"
EVENTS = ROOT / "events"


def cli_token(stack: RunningStack, user: str, *options: str) -> str:
    """An ID token from `prediag token`, the command a developer runs."""
    argv = [str(PREDIAG), "token", "--user", user, "--endpoint", stack.endpoint_url, *options]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def case(clinic: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "request-normal.json").read_text())
    return {**body, "clinicId": clinic}


@pytest.fixture(scope="module")
def clinic(real_stack: RunningStack) -> str:
    """A clinic registered with `prediag clinics add`, the command an operator runs."""
    clinic_id = f"clinic-{uuid.uuid4().hex[:8]}"
    argv = [str(PREDIAG), "clinics", "add", clinic_id, "--name", "Clinique du Test",
            "--endpoint", real_stack.endpoint_url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return clinic_id


def test_prediag_token_issues_tokens_the_local_authorizer_accepts_for_each_role(real_stack, clinic):
    owner = cli_token(real_stack, f"owner-{clinic}@example.com")
    vet = cli_token(real_stack, f"vet-{clinic}@example.com", "--group", "vets", "--clinic", clinic)
    stranger = cli_token(real_stack, f"vet-elsewhere-{clinic}@example.com", "--group", "vets",
                         "--clinic", "clinic-elsewhere")  # fmt: skip
    admin = cli_token(real_stack, f"admin-{clinic}@example.com", "--group", "admins")

    with real_stack.http() as http:
        created = http.post("/pre-diagnoses", json=case(clinic), headers={"Authorization": owner})
        assert created.status_code == 201, created.text
        path = f"/pre-diagnoses/{created.json()['id']}"

        assert http.get(path, headers={"Authorization": owner}).status_code == 200
        assert http.get(path, headers={"Authorization": vet}).status_code == 200
        assert http.get(path, headers={"Authorization": admin}).status_code == 200
        assert http.get(path, headers={"Authorization": stranger}).status_code == 404
        listed = http.get("/pre-diagnoses", headers={"Authorization": vet}).json()["items"]
        assert [i["id"] for i in listed] == [created.json()["id"]]
        by_admin = http.get(
            "/pre-diagnoses", params={"clinicId": clinic}, headers={"Authorization": admin}
        )
        assert [i["id"] for i in by_admin.json()["items"]] == [created.json()["id"]]
        assert http.get("/admin/queues", headers={"Authorization": owner}).status_code == 403


@pytest.mark.parametrize(
    "authorization",
    [None, "", "not-a-jwt", "Bearer not-a-jwt"],
    ids=["missing", "empty", "garbage", "bearer-garbage"],
)
def test_requests_without_a_valid_token_are_401_before_reaching_the_function(
    real_stack, authorization
):
    headers = {} if authorization is None else {"Authorization": authorization}
    with real_stack.http() as http:
        for method, path in [("GET", "/pre-diagnoses"), ("POST", "/pre-diagnoses"),
                             ("GET", "/pre-diagnoses/x"), ("GET", "/admin/jobs")]:  # fmt: skip
            response = http.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path)


def test_a_token_with_a_forged_signature_or_claims_is_401(real_stack):
    token = cli_token(real_stack, f"forger-{uuid.uuid4().hex[:6]}@example.com")
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    claims = json.loads(_b64decode(payload))
    claims["cognito:groups"] = ["admins"]
    promoted = _b64encode(json.dumps(claims).encode())

    with real_stack.http() as http:
        for forged in (f"{header}.{payload}.{flipped}", f"{header}.{promoted}.{signature}"):
            response = http.get("/pre-diagnoses", headers={"Authorization": forged})
            assert response.status_code == 401


def test_swagger_ui_and_the_console_load_without_a_token_and_their_data_needs_one(real_stack):
    with real_stack.http() as http:
        pages = [http.get(path) for path in ("/swagger", "/console", "/console/console.js")]
        spec = http.get("/swagger", params={"format": "json"})
        data = http.get("/admin/jobs")

    assert [p.status_code for p in pages] == [200, 200, 200]
    assert pages[0].headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in pages[1].headers["content-security-policy"]
    assert "/admin/jobs" in spec.json()["paths"]
    assert data.status_code == 401


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
