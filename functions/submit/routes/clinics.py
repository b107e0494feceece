"""The registered clinics (the `admins` group only), mounted under /admin: each route calls one
use case of prediag.clinics, the same the `prediag clinics` CLI runs.

GET  /admin/clinics              every registered clinic
POST /admin/clinics              register one: {"clinicId", "name", "active"?}
GET  /admin/clinics/{clinicId}   one clinic
POST /admin/clinics/{clinicId}   rename, deactivate or reactivate it: {"name"?, "active"?}
"""

from http import HTTPStatus
from typing import Annotated, Any

from api_responses import error_responses
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from prediag import clinics, wiring
from prediag.clinics import Clinic, ClinicChange, ClinicList, NewClinic
from prediag.models import Contract
from routes.admin import admins_only
from routes.params import ID_PATTERN

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]

TAGS = ["clinics"]
_404 = "No clinic is registered with this id"
_409 = "A clinic is already registered with this id"


def _answer(status: HTTPStatus, description: str, model: type[Contract]) -> dict[int, Any]:
    return {
        int(status): {
            "description": description,
            "content": {"application/json": {"model": model}},
        }
    }


def _json(status: HTTPStatus, body: Contract) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body.dump()
    )


ClinicId = Annotated[
    str,
    Path(
        alias="clinicId",
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="The clinic's id",
    ),
]


@router.get(
    "/clinics",
    summary="List the registered clinics",
    operation_id="listClinics",
    tags=TAGS,
    middlewares=[admins_only],
    responses={
        **_answer(HTTPStatus.OK, "Every registered clinic, by id", ClinicList),
        **error_responses(401, 403, 422, 429, 500),
    },
)
def list_clinics() -> Response[ClinicList]:
    return _json(HTTPStatus.OK, clinics.listing(wiring.clinics()))


@router.post(
    "/clinics",
    summary="Register a clinic",
    description="A case may name a clinic (`clinicId`) only once it is registered and active.",
    operation_id="registerClinic",
    tags=TAGS,
    middlewares=[admins_only],
    responses={
        **_answer(HTTPStatus.CREATED, "The clinic, registered", Clinic),
        **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 500, _409=_409),
    },
)
def register(body: Annotated[NewClinic, Body()]) -> Response[Clinic]:
    clinic = clinics.register(wiring.clinics(), body)
    logger.info("Clinic registered", extra={"clinic_id": clinic.clinic_id})
    return _json(HTTPStatus.CREATED, clinic)


@router.get(
    "/clinics/<clinicId>",
    summary="Read a registered clinic",
    operation_id="getClinic",
    tags=TAGS,
    middlewares=[admins_only],
    responses={
        **_answer(HTTPStatus.OK, "The clinic", Clinic),
        **error_responses(401, 403, 404, 422, 429, 500, _404=_404),
    },
)
def get_clinic(clinic_id: ClinicId) -> Response[Clinic]:
    return _json(HTTPStatus.OK, clinics.get(wiring.clinics(), clinic_id))


@router.post(
    "/clinics/<clinicId>",
    summary="Rename, deactivate or reactivate a clinic",
    description=(
        "An inactive clinic takes no new case (422 on `clinicId`), and its vets see none of its "
        "records until it is active again. A clinic is never deleted: its cases keep naming it."
    ),
    operation_id="changeClinic",
    tags=TAGS,
    middlewares=[admins_only],
    responses={
        **_answer(HTTPStatus.OK, "The clinic, changed", Clinic),
        **error_responses(400, 401, 403, 404, 413, 415, 422, 429, 500, _404=_404),
    },
)
def change(clinic_id: ClinicId, body: Annotated[ClinicChange, Body()]) -> Response[Clinic]:
    clinic = clinics.change(wiring.clinics(), clinic_id, body)
    logger.info("Clinic changed", extra={"clinic_id": clinic.clinic_id, "active": clinic.active})
    return _json(HTTPStatus.OK, clinic)
