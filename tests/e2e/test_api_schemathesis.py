"""Property-based run of the committed OpenAPI document against the local stack (over HTTP,
through the emulated Cognito authorizer): whatever schemathesis generates, valid or not, the API
answers without a 5xx, with a status, content type, headers and body its document declares, and
refuses unauthenticated calls.

Run as an owner and as an admin (who reaches the admin routes and the filtered listings).
Bounded: at most MAX_EXAMPLES generated examples per operation and caller, plus schemathesis'
explicit coverage cases; about half a minute on the local stack.
"""

from __future__ import annotations

import sys
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
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
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
