"""API function: the pre-diagnoses HTTP API, behind API Gateway's Cognito authorizer.

POST /pre-diagnoses (accept a case; an Idempotency-Key makes retries safe), GET /pre-diagnoses
(the records the caller may see, a page at a time), GET /pre-diagnoses/{id}, and GET /swagger
(this API's documentation, for signed-in callers). The OpenAPI document is generated from these
routes: `openapi_json()`, committed as docs/openapi.json (`make openapi`).
"""

import os
import traceback
from http import HTTPStatus
from typing import Annotated, Any

import admin
import edge
import identity
from api_responses import ERROR_TEXT, error_responses
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, SecurityScheme
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import service, wiring
from prediag.errors import EnqueueError, ForbiddenError, InvalidRequestError, NotFoundError
from prediag.models import (
    Accepted,
    PreDiagnosis,
    PreDiagnosisPage,
    PreDiagnosisRequest,
    PreDiagnosisSummary,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()
wiring.quiet_aws_client_logs()

TITLE = "prediag API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Pre-diagnoses of pets: an owner submits a case and reads it back; the clinic's vet reads "
    "the cases of their clinic; admins operate the pipeline. Every call needs a Cognito ID "
    "token of the user pool in the Authorization header. Errors are JSON: "
    '`{"message": "...", "errors": [{"field", "in", "message", "type"}]}`.'
)
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    "cognito": APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="A Cognito ID token of the user pool (the raw JWT, no 'Bearer' prefix)",
    )
}
SECURITY: list[dict[str, list[str]]] = [{"cognito": []}]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$"
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]+$"
KEY_PATTERN = r"^[A-Za-z0-9_.:+/=-]+$"
IDEMPOTENCY_KEY_PREFIX = "prediag-submit"
REPLAYED_HEADER = "Idempotent-Replayed"
_REPLAYED = "__replayed"

ALLOWED_ORIGIN = os.environ.get("CORS_ALLOWED_ORIGIN", "")
cors = (
    CORSConfig(
        allow_origin=ALLOWED_ORIGIN,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Location", "Retry-After", REPLAYED_HEADER],
        max_age=600,
        allow_credentials=False,
    )
    if ALLOWED_ORIGIN
    else None
)
app = APIGatewayRestResolver(enable_validation=True, cors=cors)
app.include_router(admin.router, prefix="/admin")


def _json(status: HTTPStatus, body: dict[str, Any], **headers: str) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def current_caller() -> service.Caller:
    return identity.current_caller(app)


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


def _accept(
    *, submission: dict[str, Any], request: PreDiagnosisRequest, caller: service.Caller
) -> dict[str, Any]:
    """The domain submit; `submission` (caller, key, request) is what idempotency hashes."""
    return service.submit(request, caller, wiring.repository(), wiring.job_queue()).dump()


def accept(
    request: PreDiagnosisRequest, caller: service.Caller, key: str | None
) -> tuple[Accepted, bool]:
    """(the answer, whether it is the stored answer of an earlier request with the same key).

    With a key, the first completed answer for (caller, key) is kept 24 hours: a retry gets it
    back and creates nothing. A failure (503) is not kept, so a retry runs again.
    """
    if key is None:
        return service.submit(request, caller, wiring.repository(), wiring.job_queue()), False
    once = idempotent_function(
        _accept,
        data_keyword_argument="submission",
        persistence_store=wiring.idempotency_store(),
        config=IDEMPOTENCY,
        key_prefix=IDEMPOTENCY_KEY_PREFIX,
    )
    submission = {"caller": caller.user_id, "key": key, "request": request.dump()}
    answer = dict(once(submission=submission, request=request, caller=caller))
    replayed = bool(answer.pop(_REPLAYED, False))
    return Accepted.model_validate(answer), replayed


# ---------------------------------------------------------------------- routes
@app.post(
    "/pre-diagnoses",
    summary="Submit a case for pre-diagnosis",
    description=(
        "Stores the case as `pending` and queues it for analysis (urgent or normal lane, from "
        "the red-flag triage). Send an `Idempotency-Key` to make retries safe: a retry with the "
        "same key gets the first answer back (with `Idempotent-Replayed: true`) and creates "
        "nothing; the same key with another body is a 422."
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
        },
        **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 500, 503),
    },
)
@tracer.capture_method(capture_response=False)
def create(
    body: Annotated[PreDiagnosisRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=8,
            max_length=128,
            pattern=KEY_PATTERN,
            description="A unique value per submission (a UUID); retries reuse it",
        ),
    ] = None,
) -> Response[Accepted]:
    accepted, replayed = accept(body, current_caller(), idempotency_key)
    headers = {"Location": f"/pre-diagnoses/{accepted.id}"}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return _json(HTTPStatus.CREATED, accepted.dump(), **headers)


@app.get(
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
        },
        **error_responses(401, 403, 422, 429, 500),
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
        str | None,
        Query(
            alias="clinicId",
            min_length=1,
            max_length=64,
            pattern=ID_PATTERN,
            description="Admins: list this clinic's cases (vets: their own clinic only)",
        ),
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
    page = service.list_records(
        current_caller(),
        wiring.repository(),
        limit=limit,
        cursor=cursor,
        clinic_id=clinic_id,
        user_id=user_id,
    )
    body = PreDiagnosisPage(
        items=[PreDiagnosisSummary.of(r) for r in page.items], next_cursor=page.cursor
    )
    return _json(HTTPStatus.OK, body.dump())


@app.get(
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
    record = service.read(id, current_caller(), wiring.repository())
    return _json(HTTPStatus.OK, record.dump())


# ---------------------------------------------------------------------- documentation
def require_caller(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Swagger UI is for signed-in callers only (401 otherwise)."""
    identity.current_caller(app)
    return next_middleware(app)


app.enable_swagger(
    path="/swagger",
    title=TITLE,
    version=VERSION,
    description=DESCRIPTION,
    security_schemes=SECURITY_SCHEMES,
    security=SECURITY,
    middlewares=[require_caller],
)


def openapi_json() -> str:
    """The OpenAPI document of this API (what docs/openapi.json holds)."""
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
        security=SECURITY,
    )


# ---------------------------------------------------------------------- errors
def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Where and what, never the rejected value (it may be the owner's own words)."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
            "in": str(e["loc"][0]),
            "message": str(e.get("msg", e["type"])),
            "type": str(e["type"]),
        }
        for e in exc.errors()
    ]


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[Any]:
    errors = _field_errors(exc)
    fields = ", ".join(sorted({e["field"] for e in errors}))
    logger.info(
        "Invalid request",
        extra={"invalid": [{"field": e["field"], "type": e["type"]} for e in errors]},
    )
    return _json(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        {"message": f"Invalid request: {fields}", "errors": errors},
    )


@app.exception_handler(RequestUnsupportedContentType)
def unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[Any]:
    message = "Send the body as application/json (UTF-8)"
    error = {"field": "Content-Type", "in": "header", "message": message, "type": "media_type"}
    return _json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"message": message, "errors": [error]})


@app.exception_handler(InvalidRequestError)
def unserviceable(exc: InvalidRequestError) -> Response[Any]:
    error = {"field": exc.field, "in": exc.location, "message": str(exc), "type": "value_error"}
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"message": str(exc), "errors": [error]})


@app.exception_handler(IdempotencyValidationError)
def key_reused(exc: IdempotencyValidationError) -> Response[Any]:
    message = "This Idempotency-Key was already used with another request body"
    error = {"field": "Idempotency-Key", "in": "header", "message": message, "type": "key_reused"}
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"message": message, "errors": [error]})


@app.exception_handler(IdempotencyAlreadyInProgressError)
def key_in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[Any]:
    return _json(HTTPStatus.CONFLICT, {"message": ERROR_TEXT[409]}, **{"Retry-After": "1"})


@app.exception_handler(NotFoundError)
def not_found(exc: NotFoundError) -> Response[Any]:
    return _json(HTTPStatus.NOT_FOUND, {"message": str(exc)})


@app.exception_handler(ForbiddenError)
def forbidden(exc: ForbiddenError) -> Response[Any]:
    return _json(HTTPStatus.FORBIDDEN, {"message": f"Forbidden: {exc}"})


@app.exception_handler(EnqueueError)
def unavailable(exc: EnqueueError) -> Response[Any]:
    return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"message": str(exc)}, **{"Retry-After": "5"})


@app.exception_handler(IdempotencyPersistenceLayerError)
def idempotency_unavailable(exc: IdempotencyPersistenceLayerError) -> Response[Any]:
    logger.error("Idempotency store unavailable", extra={"error_type": type(exc).__name__})
    return _json(
        HTTPStatus.SERVICE_UNAVAILABLE, {"message": ERROR_TEXT[503]}, **{"Retry-After": "5"}
    )


@app.exception_handler(ServiceError)
def service_error(exc: ServiceError) -> Response[Any]:
    return _json(HTTPStatus(exc.status_code), {"message": exc.msg})


@app.exception_handler(Exception)
def unexpected(exc: Exception) -> Response[Any]:
    # the message of an unexpected error may quote request data: log its type and frames only
    logger.error(
        "Unexpected %s",
        type(exc).__name__,
        extra={"error_type": type(exc).__name__, "frames": traceback.format_tb(exc.__traceback__)},
    )
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal server error"})


@app.not_found
def no_route(exc: Exception) -> Response[Any]:
    return _json(HTTPStatus.NOT_FOUND, {"message": "Not found"})


# ---------------------------------------------------------------------- handler
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = edge.refusal(event)
    if refused is not None:
        logger.info(
            "Refused request",
            extra={"status": int(refused.status), "reason": refused.type},
        )
        return edge.response(refused, event, cors)
    IDEMPOTENCY.register_lambda_context(context)
    return edge.with_security_headers(app.resolve(edge.normalise(event), context))
