"""The jobs, for operators (the `admins` group only), mounted under /admin: each route calls one
function of prediag.ops.jobs, the same the `prediag jobs` and `prediag show` commands run.

GET /admin/jobs       newest first: ?status, ?lane, ?clinicId, ?since, ?limit, ?cursor
GET /admin/jobs/{id}  the whole record, with the notifications sent about it
"""

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from api_responses import error_responses
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from prediag import ops, wiring
from prediag.errors import InvalidRequestError
from prediag.models import Lane, Status
from routes.admin import admins_only
from routes.params import CURSOR_PATTERN, ID_PATTERN, clinic_filter

router = Router()  # type: ignore[no-untyped-call]
SINCE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"


def _instant(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time (checked by SINCE_PATTERN) as an instant; 422 if no such day
    or time exists."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequestError("since", "since is not a valid date or date-time") from exc


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.get(
    "/jobs",
    summary="List jobs, newest first",
    description=(
        "Every pre-diagnosis as a job: status, lane, attempts and the last error. Filter by "
        "`status`, `lane`, `clinicId` and `since` (created at or after); pass `nextCursor` back "
        "as `cursor`, with the same filters, for the next page. A page may hold fewer than "
        "`limit` jobs while `nextCursor` is set (the lane filter reads a bounded number of "
        "records per page)."
    ),
    operation_id="listJobs",
    tags=["admin"],
    middlewares=[admins_only],
    responses={
        200: {
            "description": "A page of job summaries",
            "content": {"application/json": {"model": ops.JobPage}},
        },
        **error_responses(401, 403, 422, 429, 500),
    },
)
def list_jobs(
    status: Annotated[Status | None, Query(description="Only jobs in this status")] = None,
    lane: Annotated[Lane | None, Query(description="Only jobs of this lane")] = None,
    clinic_id: Annotated[str | None, clinic_filter("Only this clinic's jobs")] = None,
    since: Annotated[
        str | None,
        Query(
            min_length=10,
            max_length=40,
            pattern=SINCE_PATTERN,
            description="Only jobs created at or after this ISO 8601 date or date-time "
            "(2025-01-31, 2025-01-31T08:00:00Z; UTC when it names no zone)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=4096,
            pattern=CURSOR_PATTERN,
            description="The `nextCursor` of the previous page",
        ),
    ] = None,
) -> Response[ops.JobPage]:
    query = ops.JobQuery(status=status, lane=lane, clinic_id=clinic_id, since=_instant(since))
    page = ops.list_jobs(wiring.repository(), query, limit=limit, cursor=cursor)
    return _json(HTTPStatus.OK, page.dump())


@router.get(
    "/jobs/<id>",
    summary="Read one job",
    description=(
        "The whole record (request, triage, attempts with each provider's outcome, analysis) "
        "and the notifications sent to the vet about it."
    ),
    operation_id="getJob",
    tags=["admin"],
    middlewares=[admins_only],
    responses={
        200: {
            "description": "The job",
            "content": {"application/json": {"model": ops.JobDetail}},
        },
        **error_responses(401, 403, 404, 422, 429, 500),
    },
)
def read_job(
    id: Annotated[
        str,
        Path(min_length=1, max_length=64, pattern=ID_PATTERN, description="The record's id"),
    ],
) -> Response[ops.JobDetail]:
    return _json(HTTPStatus.OK, ops.read_job(wiring.repository(), id).dump())
