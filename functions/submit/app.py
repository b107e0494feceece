"""API function: the pre-diagnoses HTTP API, behind API Gateway's Cognito authorizer.

The resolver and what every request goes through, in order: the edge's refusals (`edge`), the
request validation, the route (`routes.pre_diagnoses`, `routes.admin`, `routes.jobs`), and the
answer to any exception (`api_responses`), with CORS and the security headers. `routes.console`
serves the operators' console and Swagger UI (static pages; their scripts call the API with the
caller's token). The OpenAPI document is generated from the routes: `openapi_json()`, committed
as docs/openapi.json (`make openapi`).
"""

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import api_responses
import edge
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.types import EventHandlerInstance
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from routes import admin, clinics, console, jobs, pre_diagnoses

from prediag import wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

logger = Logger()
tracer = Tracer()
metrics = Metrics()
wiring.quiet_aws_client_logs()

TITLE = "prediag API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Pre-diagnoses of pets: an owner submits a case and reads it back; the clinic's vet reads "
    "the cases of their clinic; admins operate the pipeline. Every call needs a Cognito ID "
    "token of the user pool in the Authorization header (the console and Swagger UI pages, "
    "which hold no data, load without one). Errors are JSON: "
    '`{"message": "...", "errors": [{"field", "in", "message", "type"}]}`.'
)
SECURITY: list[dict[str, list[str]]] = [{"cognito": []}]

ALLOWED_ORIGIN = os.environ.get("CORS_ALLOWED_ORIGIN", "")
cors = (
    CORSConfig(
        allow_origin=ALLOWED_ORIGIN,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Location", "Retry-After", pre_diagnoses.REPLAYED_HEADER],
        max_age=600,
        allow_credentials=False,
    )
    if ALLOWED_ORIGIN
    else None
)


class AdmitThenValidate(OpenAPIRequestValidationMiddleware):
    """The edge's refusals, then Powertools' request validation.

    Powertools runs its request validation before every other middleware (`app.use` ones
    included), and it would parse what the edge refuses: it takes the first element of a
    top-level array as the body, reads NaN, and answers a form body as fields. So the refusal
    takes the validation's place in the chain: a refusal raised here is answered by its
    exception handler, with the resolver's CORS headers, like any other error.
    """

    def handler(self, app: EventHandlerInstance, next_middleware: NextMiddleware) -> Response[Any]:
        edge.admit(app.current_event.raw_event)
        # API Gateway (REST) passes the path percent-encoded; the route's parameters are the
        # decoded segments, as in the event's pathParameters
        app.context["_route_args"] = {
            name: unquote(value) for name, value in app.context.get("_route_args", {}).items()
        }
        route = app.context["_route"]
        known = {param.alias for param in route.dependant.query_params}
        sent = app.current_event.query_string_parameters or {}
        unknown = sorted(name for name in sent if name not in known)
        if not route.include_in_schema:  # Swagger UI's own routes (?format=json)
            unknown = []
        if unknown:  # a misspelt filter must not silently list everything
            raise RequestValidationError(
                [
                    {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown parameter"}
                    for name in unknown
                ]
            )
        return super().handler(app, next_middleware)


app = APIGatewayRestResolver(enable_validation=True, cors=cors)
_validation = getattr(app, "_request_validation_middleware", None)
if not isinstance(_validation, OpenAPIRequestValidationMiddleware):
    raise RuntimeError("Powertools moved its request validation: the edge would not run first")
app._request_validation_middleware = AdmitThenValidate()  # type: ignore[no-untyped-call]
api_responses.register(app)
app.include_router(admin.router, prefix="/admin")
app.include_router(jobs.router, prefix="/admin")
app.include_router(clinics.router, prefix="/admin")
app.include_router(pre_diagnoses.router)


# ---------------------------------------------------------------------- documentation
def security_schemes() -> "dict[str, SecurityScheme]":
    """How a caller authenticates, for the document. Powertools' OpenAPI models are imported
    here, not at module level: only the document needs them, and importing them takes about
    30 ms, which every cold start would pay."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    return {
        "cognito": APIKey(
            name="Authorization",
            in_=APIKeyIn.header,
            description="A Cognito ID token of the user pool (the raw JWT, no 'Bearer' prefix)",
        )
    }


def openapi_json() -> str:
    """The OpenAPI document of this API (what docs/openapi.json holds)."""
    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=security_schemes(),
        security=SECURITY,
    )


console.mount(app, openapi_json)


# ---------------------------------------------------------------------- handler
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api_responses.secured(app.resolve(event, context))
