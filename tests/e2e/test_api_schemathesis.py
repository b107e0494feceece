"""Property-based run of the committed OpenAPI document against the local stack (over HTTP,
through the emulated Cognito authorizer): whatever schemathesis generates, valid or not, the API
answers without a 5xx, with a status, content type, headers and body its document declares, and
refuses unauthenticated calls.

Run as an owner and as an admin (who reaches the admin routes and the filtered listings).
Bounded: at most MAX_EXAMPLES generated examples per operation and caller, plus schemathesis'
explicit coverage cases; about half a minute on the local stack.

Then a stateful run follows the document's links (submit -> read, submit -> list -> read):
STATEFUL_SCENARIOS scenarios of at most STATEFUL_STEPS calls, each as a new owner.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

if TYPE_CHECKING:
    from conftest import RunningStack

pytestmark = pytest.mark.e2e

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
STATEFUL_CHECKS = [ensure_resource_availability, use_after_free]

# Methods API Gateway serves on a known path without a route for them (403 there and locally);
# it does not serve TRACE or QUERY at all.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"unexpected-methods": ["put", "patch", "delete"]}}}
)
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)
calls: Counter[tuple[str, str]] = Counter()


ROLES = {
    "owner": {},
    "admin": {"groups": ["admins"]},
}


@pytest.fixture(scope="module")
def report() -> Iterator[None]:
    """Prints how many requests the run made, per caller and operation."""
    yield
    for role in ROLES:
        mine = {op: n for (who, op), n in calls.items() if who == role}
        detail = ", ".join(f"{op}: {n}" for op, n in sorted(mine.items()))
        sys.stdout.write(f"\n[schemathesis as {role}: {sum(mine.values())} requests; {detail}]")
    sys.stdout.write("\n")


@pytest.fixture(scope="module", params=list(ROLES))
def caller(request, real_stack: RunningStack, report: None) -> tuple[str, str, str]:
    """(role, API URL, an ID token of that role from the local user pool)."""
    role = request.param
    token = real_stack.token(f"schemathesis-{role}@example.com", **ROLES[role])
    return role, real_stack.api_url, token


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_generated_request_gets_a_declared_answer_and_never_a_5xx(case, caller):
    role, api_url, token = caller
    calls[(role, f"{case.method} {case.path}")] += 1
    case.call_and_validate(base_url=api_url, headers={"Authorization": token}, checks=CHECKS)


# ---------------------------------------------------------------------- stateful (links)
STATEFUL_OPERATIONS = ["submitPreDiagnosis", "getPreDiagnosis", "listPreDiagnoses"]
STATEFUL_SCENARIOS = 40
STATEFUL_STEPS = 6
DEMO_CLINIC = "clinic-lyon-01"  # registered by the local stack


def test_stateful_submit_then_read_and_list_through_the_links(real_stack):
    """schemathesis follows the document's links (submit -> read, submit -> list -> read),
    each scenario as a new owner: what a 201 created is then readable and listed by its
    owner, and every answer on the way is a declared one, never a 5xx."""
    machine = (
        schemathesis.openapi.from_path(SPEC, config=CONFIG)
        .include(operation_id=STATEFUL_OPERATIONS)
        .as_state_machine()
    )
    seen: Counter[tuple[str, str, int]] = Counter()

    class SubmitReadList(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            self.token = real_stack.token(f"stateful-{uuid.uuid4().hex[:12]}@example.com")

        def before_call(self, case) -> None:
            # a valid case names a registered clinic (one the document cannot know)
            positive = case.meta is None or case.meta.generation.mode.is_positive
            submitting = case.operation.label == "POST /pre-diagnoses"
            if submitting and positive and isinstance(case.body, dict) and "clinicId" in case.body:
                case.body["clinicId"] = DEMO_CLINIC

        def get_call_kwargs(self, case) -> dict:
            return {"base_url": real_stack.api_url, "headers": {"Authorization": self.token}}

        def after_call(self, response, case) -> None:
            super().after_call(response, case)
            seen[(case.method, case.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            # the same checks as above (not positive_data_acceptance: a cursor is opaque, and
            # a clinic or a quota is not in the document), and the stateful ones
            case.validate_response(
                response,
                checks=[*CHECKS, *STATEFUL_CHECKS],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    SubmitReadList.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
    detail = ", ".join(f"{m} {p} {s}: {n}" for (m, p, s), n in sorted(seen.items()))
    sys.stdout.write(f"\n[schemathesis stateful: {sum(seen.values())} requests; {detail}]\n")
    assert seen[("POST", "/pre-diagnoses", 201)] > 0
    assert seen[("GET", "/pre-diagnoses/{id}", 200)] > 0  # a link from a 201 was followed
    assert not [k for k in seen if k[2] >= 500]
