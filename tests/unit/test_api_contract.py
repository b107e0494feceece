"""The API's published contract: the committed OpenAPI document is the handler's, every status
the API can answer is declared, and the template exposes exactly the handler's routes."""

from __future__ import annotations

import json

import pytest

from prediag_tools.local.cfn import load_template
from prediag_tools.openapi import REGENERATE, SPEC_PATH, render
from tests.conftest import TEMPLATE

OPERATIONS = [
    ("post", "/pre-diagnoses"),
    ("get", "/pre-diagnoses"),
    ("get", "/pre-diagnoses/{id}"),
]


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_the_committed_openapi_document_is_the_one_the_handler_generates():
    generated = render()
    committed = SPEC_PATH.read_text(encoding="utf-8") if SPEC_PATH.exists() else ""
    assert committed == generated, f"{SPEC_PATH} is out of date: run `{REGENERATE}`"


def test_every_operation_requires_a_cognito_id_token(spec):
    assert spec["security"] == [{"cognito": []}]
    scheme = spec["components"]["securitySchemes"]["cognito"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    for method, path in OPERATIONS:
        assert "security" not in spec["paths"][path][method]  # nothing overrides it


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/pre-diagnoses", {201, 400, 401, 403, 409, 413, 415, 422, 429, 500, 503}),
        ("get", "/pre-diagnoses", {200, 401, 403, 422, 429, 500}),
        ("get", "/pre-diagnoses/{id}", {200, 401, 404, 422, 429, 500}),
    ],
)
def test_each_operation_declares_every_status_it_can_answer(spec, method, path, statuses):
    declared = {int(code) for code in spec["paths"][path][method]["responses"]}
    assert declared == statuses


def test_error_answers_share_one_documented_shape(spec):
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error_body, (method, path, code)


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("get", "/admin/queues", "QueueStats"),
        ("post", "/admin/redrive", "RedriveReport"),
        ("post", "/admin/pause", "Mappings"),
        ("post", "/admin/resume", "Mappings"),
    ],
)
def test_each_admin_answer_is_described_by_its_model(spec, method, path, model):
    ok = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": f"#/components/schemas/{model}"}


@pytest.mark.parametrize("path", ["/admin/pause", "/admin/resume"])
def test_pause_and_resume_take_no_body_or_a_lanes_object_never_null(spec, path):
    body = spec["paths"][path]["post"]["requestBody"]
    assert body.get("required", False) is False  # no body: all lanes
    schema = body["content"]["application/json"]["schema"]
    assert schema["$ref"] == "#/components/schemas/LanesRequest"  # not anyOf [..., null]
    assert "anyOf" not in schema


def test_the_idempotency_key_header_is_a_string_when_sent_and_never_null(spec):
    (key,) = [
        p for p in spec["paths"]["/pre-diagnoses"]["post"]["parameters"] if p["in"] == "header"
    ]
    assert key["name"].lower() == "idempotency-key"
    assert key["required"] is False
    assert key["schema"]["type"] == "string"
    assert "anyOf" not in key["schema"] and "null" not in json.dumps(key["schema"])


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("post", "/pre-diagnoses", {"409", "429", "503"}),
        ("post", "/admin/redrive", {"409"}),
    ],
)
def test_every_answer_that_may_say_when_to_retry_declares_retry_after(spec, method, path, codes):
    responses = spec["paths"][path][method]["responses"]
    for code in codes:
        assert "Retry-After" in responses[code]["headers"], code
    body = spec["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"retryAfterSeconds", "retryAt"} <= set(body)


@pytest.mark.parametrize(
    ("method", "path", "statuses", "model"),
    [
        ("get", "/admin/clinics", {200, 401, 403, 422, 429, 500}, "ClinicList"),
        ("post", "/admin/clinics", {201, 400, 401, 403, 409, 413, 415, 422, 429, 500}, "Clinic"),
        ("get", "/admin/clinics/{clinicId}", {200, 401, 403, 404, 422, 429, 500}, "Clinic"),
        (
            "post",
            "/admin/clinics/{clinicId}",
            {200, 400, 401, 403, 404, 413, 415, 422, 429, 500},
            "Clinic",
        ),
    ],
)
def test_the_clinic_routes_declare_their_answers(spec, method, path, statuses, model):
    responses = spec["paths"][path][method]["responses"]
    assert {int(code) for code in responses} == statuses
    ok = next(r for code, r in responses.items() if int(code) < 300)
    assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}


def test_the_request_body_refuses_unknown_fields_at_every_level(spec):
    schemas = spec["components"]["schemas"]
    for name in ("PreDiagnosisRequest", "Pet", "NewClinic", "ClinicChange"):
        assert schemas[name]["additionalProperties"] is False


PAGES = {("get", "/swagger"), ("get", "/console"), ("get", "/console/{asset}")}
"""The static pages (no data): the only routes API Gateway serves without the authorizer."""


def test_the_template_exposes_exactly_the_documented_routes_all_behind_the_authorizer(spec):
    template = load_template(TEMPLATE)
    api = template["Resources"]["PrediagApi"]["Properties"]
    events = template["Resources"]["SubmitFunction"]["Properties"]["Events"]
    routes = {
        (e["Properties"]["Method"].lower(), e["Properties"]["Path"])
        for e in events.values()
        if e["Type"] == "Api"
    }
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}

    assert routes == documented | PAGES
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    for event in events.values():
        route = (event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        if route in PAGES:
            assert event["Properties"]["Auth"] == {"Authorizer": "NONE"}
        else:  # no data route opts out of the authorizer
            assert "Auth" not in event["Properties"]
