"""API function: POST /pre-diagnoses (accept a case) and GET /pre-diagnoses/{id}."""

from http import HTTPStatus
from typing import Annotated, Any

import identity
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from prediag import service, wiring
from prediag.errors import EnqueueError, NotFoundError
from prediag.models import Accepted, PreDiagnosis, PreDiagnosisRequest

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)


def _json(status: HTTPStatus, body: dict[str, Any], **headers: str) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def current_caller() -> service.Caller:
    return identity.current_caller(app)


@app.post("/pre-diagnoses", responses={201: {"description": "Accepted for analysis"}})
@tracer.capture_method
def create(body: Annotated[PreDiagnosisRequest, Body()]) -> Response[Accepted]:
    accepted = service.submit(body, current_caller(), wiring.repository(), wiring.job_queue())
    return _json(HTTPStatus.CREATED, accepted.dump(), Location=f"/pre-diagnoses/{accepted.id}")


@app.get("/pre-diagnoses/<id>")
@tracer.capture_method
def get_one(id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response[PreDiagnosis]:
    record = service.read(id, current_caller(), wiring.repository())
    return _json(HTTPStatus.OK, record.dump())


@app.exception_handler(RequestValidationError)
def invalid_request(exc: RequestValidationError) -> Response[Any]:
    errors = [
        {
            "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
            "in": str(e["loc"][0]),
            "message": e.get("msg", e["type"]),
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return _json(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        {"message": f"Invalid request: {fields}", "errors": errors},
    )


@app.exception_handler(NotFoundError)
def not_found(exc: NotFoundError) -> Response[Any]:
    return _json(HTTPStatus.NOT_FOUND, {"message": str(exc)})


@app.exception_handler(EnqueueError)
def unavailable(exc: EnqueueError) -> Response[Any]:
    return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"message": str(exc)}, **{"Retry-After": "5"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
