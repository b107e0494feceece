"""The pre-diagnoses resource: each route parses its request and calls one use case.

POST /pre-diagnoses       prediag.submission.submit (an Idempotency-Key makes retries safe)
GET  /pre-diagnoses       prediag.access.list_records (the records the caller may see)
GET  /pre-diagnoses/{id}  prediag.access.read
"""

from http import HTTPStatus
from typing import Annotated, Any

import identity
from api_responses import error_responses
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from prediag import access, submission, wiring
from prediag.access import Caller
from prediag.models import PreDiagnosis, PreDiagnosisRequest
from prediag.views import Accepted, PreDiagnosisPage, PreDiagnosisSummary
from routes.params import CURSOR_PATTERN, ID_PATTERN, KEY_PATTERN, USER_PATTERN, clinic_filter

tracer = Tracer()
router = Router()  # type: ignore[no-untyped-call]

IDEMPOTENCY_KEY_PREFIX = "prediag-submit"
REPLAYED_HEADER = "Idempotent-Replayed"
_REPLAYED = "__replayed"


def _ok(status: HTTPStatus, body: dict[str, Any], **headers: str) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def _caller() -> Caller:
    return identity.caller_of(router.current_event.raw_event)


# ---------------------------------------------------------------------- idempotent submit
def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """The stored answer of an earlier request, flagged as such (the route says so in a header)."""
    return {**response, _REPLAYED: True}


IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[caller, key]",
    payload_validation_jmespath="request",
    expires_after_seconds=24 * 3600,
    hash_function="sha256",
    response_hook=_mark_replayed,
)


def _submit(request: PreDiagnosisRequest, caller: Caller) -> Accepted:
    return submission.submit(
        request,
        caller,
        wiring.repository(),
        wiring.job_queue(),
        clinics=wiring.clinics(),
        quota=wiring.submission_quota(),
    )


def _submit_once(
    *, payload: dict[str, Any], request: PreDiagnosisRequest, caller: Caller
) -> dict[str, Any]:
    """The use case; `payload` (caller, key, request) is what idempotency hashes."""
    return _submit(request, caller).dump()


def accept(request: PreDiagnosisRequest, caller: Caller, key: str | None) -> tuple[Accepted, bool]:
    """(the answer, whether it is the stored answer of an earlier request with the same key).

    With a key, the first completed answer for (caller, key) is kept 24 hours: a retry gets it
    back, creates nothing and uses no quota. A failure (422, 429, 503) is not kept, so a retry
    runs again.
    """
    if key is None:
        return _submit(request, caller), False
    IDEMPOTENCY.register_lambda_context(router.lambda_context)
    once = idempotent_function(
        _submit_once,
        data_keyword_argument="payload",
        persistence_store=wiring.idempotency_store(),
        config=IDEMPOTENCY,
        key_prefix=IDEMPOTENCY_KEY_PREFIX,
    )
    payload = {"caller": caller.user_id, "key": key, "request": request.dump()}
    answer = dict(once(payload=payload, request=request, caller=caller))
    replayed = bool(answer.pop(_REPLAYED, False))
    return Accepted.model_validate(answer), replayed


# ---------------------------------------------------------------------- routes
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=KEY_PATTERN,
        description="A unique value per submission (a UUID); retries reuse it",
    ),
]
"""A string when sent, absent otherwise. Its schema must not allow null (no header is null),
so the type is `str`, and the route's default None stands for "no key"."""


@router.post(
    "/pre-diagnoses",
    summary="Submit a case for pre-diagnosis",
    description=(
        "Stores the case as `pending` and queues it for analysis (urgent or normal lane, from "
        "the red-flag triage). Send an `Idempotency-Key` to make retries safe: a retry with the "
        "same key gets the first answer back (with `Idempotent-Replayed: true`) and creates "
        "nothing; the same key with another body is a 422. The case must name a registered, "
        "active clinic (else 422 on `clinicId`). Each owner may submit a limited number of cases "
        "in any rolling hour (`SubmissionsPerOwnerPerHour`); past it the answer is 429 with "
        "`Retry-After` and `retryAfterSeconds`, `retryAt` in the body."
    ),
    operation_id="submitPreDiagnosis",
    tags=["pre-diagnoses"],
    responses={
        201: {
            "description": "Accepted for analysis",
            "headers": {
                "Location": {
                    "description": "Path of the new record",
                    "schema": {"type": "string"},
                },
            },
            "content": {"application/json": {"model": Accepted}},
            "links": {
                "ReadTheCase": {
                    "operationId": "getPreDiagnosis",
                    "parameters": {"id": "$response.body#/id"},
                    "description": "The record just created (its `id`)",
                },
                "ListTheCases": {
                    "operationId": "listPreDiagnoses",
                    "description": "The caller's cases, newest first: the new one among them",
                },
            },
        },
        **error_responses(
            400,
            401,
            403,
            409,
            413,
            415,
            422,
            429,
            500,
            503,
            _422="A parameter or body field is invalid (`errors` names each one), or `clinicId` "
            "is not a registered, active clinic",
            _429="The caller's submission quota is used up (`Retry-After`, and "
            "`retryAfterSeconds`, `retryAt` in the body), or API throttling",
        ),
    },
)
@tracer.capture_method(capture_response=False)
def create(
    body: Annotated[PreDiagnosisRequest, Body()],
    idempotency_key: IdempotencyKey = None,  # type: ignore[assignment]
) -> Response[Accepted]:
    accepted, replayed = accept(body, _caller(), idempotency_key)
    headers = {"Location": f"/pre-diagnoses/{accepted.id}"}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return _ok(HTTPStatus.CREATED, accepted.dump(), **headers)


@router.get(
    "/pre-diagnoses",
    summary="List the pre-diagnoses the caller may see, newest first",
    description=(
        "An owner lists their own cases, a vet the cases of their clinic (`custom:clinic_id`). "
        "An admin names exactly one of `clinicId` or `userId`. Items are summaries; read a "
        "whole record with GET /pre-diagnoses/{id}. Pass `nextCursor` back as `cursor` for the "
        "next page."
    ),
    operation_id="listPreDiagnoses",
    tags=["pre-diagnoses"],
    responses={
        200: {
            "description": "A page of summaries",
            "content": {"application/json": {"model": PreDiagnosisPage}},
            "links": {
                "ReadTheNewest": {
                    "operationId": "getPreDiagnosis",
                    "parameters": {"id": "$response.body#/items/0/id"},
                    "description": "The first record of the page",
                },
            },
        },
        **error_responses(
            401,
            403,
            422,
            429,
            500,
            _403="The filter is not for this caller, or the vet's clinic is not a registered, "
            "active clinic",
        ),
    },
)
@tracer.capture_method(capture_response=False)
def list_records(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=1024,
            pattern=CURSOR_PATTERN,
            description="The `nextCursor` of the previous page",
        ),
    ] = None,
    clinic_id: Annotated[
        str | None, clinic_filter("Admins: list this clinic's cases (vets: their own clinic only)")
    ] = None,
    user_id: Annotated[
        str | None,
        Query(
            alias="userId",
            min_length=1,
            max_length=128,
            pattern=USER_PATTERN,
            description="Admins: list this owner's cases (owners: themselves only)",
        ),
    ] = None,
) -> Response[PreDiagnosisPage]:
    page = access.list_records(
        _caller(),
        wiring.repository(),
        wiring.clinics(),
        limit=limit,
        cursor=cursor,
        clinic_id=clinic_id,
        user_id=user_id,
    )
    body = PreDiagnosisPage(
        items=[PreDiagnosisSummary.of(r) for r in page.items], next_cursor=page.cursor
    )
    return _ok(HTTPStatus.OK, body.dump())


@router.get(
    "/pre-diagnoses/<id>",
    summary="Read one pre-diagnosis",
    description="The whole record, for its owner, a vet of its clinic, or an admin; else 404.",
    operation_id="getPreDiagnosis",
    tags=["pre-diagnoses"],
    responses={
        200: {
            "description": "The record",
            "content": {"application/json": {"model": PreDiagnosis}},
        },
        **error_responses(401, 404, 422, 429, 500),
    },
)
@tracer.capture_method(capture_response=False)
def get_one(
    id: Annotated[
        str,
        Path(min_length=1, max_length=64, pattern=ID_PATTERN, description="The record's id"),
    ],
) -> Response[PreDiagnosis]:
    record = access.read(id, _caller(), wiring.repository(), wiring.clinics())
    return _ok(HTTPStatus.OK, record.dump())
