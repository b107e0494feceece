"""Operating the pipeline (the `admins` group only), mounted under /admin: each route calls one
operation of prediag.ops, the same the `prediag` CLI runs.

GET  /admin/queues   waiting, active, delayed, retrying, dead, oldest wait, paused per lane;
                     record statuses
POST /admin/redrive  failed jobs back to their lane: {"ids"?, "lanes"?, "dryRun"?}
POST /admin/pause    stop the analysis of the lanes: {"lanes"?} or no body (all lanes)
POST /admin/resume   start it again: {"lanes"?} or no body (all lanes)
"""

from http import HTTPStatus
from typing import Annotated, Any

import boto3
import identity
from api_responses import error_responses
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field

from prediag import ops, wiring
from prediag.models import Contract, Identifier, Lane
from prediag.settings import get_settings

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]
_409 = "The operation is not possible now; with `Retry-After`, another operation holds the lane"
GET_ERRORS = error_responses(401, 403, 409, 422, 429, 500, _409=_409)
POST_ERRORS = error_responses(400, 401, 403, 409, 413, 415, 422, 429, 500, _409=_409)

REDRIVE_LIMIT = 100
"""Failed records one call redrives when it names no ids (the API answers within its timeout)."""


def admins_only(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """401 without a token (identity), 403 for a caller outside the admins group."""
    if not identity.caller_of(app.current_event.raw_event).is_admin:
        raise ForbiddenError("admin routes are for the admins group")
    return next_middleware(app)


class LanesRequest(Contract):
    lanes: list[Lane] | None = Field(default=None, description="Lanes to act on (all by default)")


class RedriveRequest(Contract):
    ids: list[Identifier] | None = Field(
        default=None, max_length=100, description="Only these pre-diagnoses (all by default)"
    )
    lanes: list[Lane] | None = Field(default=None, description="Lanes to act on (all by default)")
    dry_run: bool = Field(
        default=False, strict=True, description="Report what would be redriven; change nothing"
    )


class Mappings(Contract):
    """The analyze function's triggers on the lanes, after the change."""

    mappings: list[ops.EventSourceMapping]


def _ok(description: str, model: type[Contract]) -> dict[int, Any]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}}


def _json(body: Contract) -> Response[Any]:
    return Response(
        status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=body.dump()
    )


def _topology() -> ops.Topology:
    return ops.Topology.from_settings(get_settings())


def _adapters() -> ops.Adapters:
    return ops.Adapters.bind(_topology(), wiring.job_queue().client, wiring.repository().client)


@router.get(
    "/queues",
    middlewares=[admins_only],
    responses={**_ok("Queue and record statistics", ops.QueueStats), **GET_ERRORS},
)
def queues() -> Response[ops.QueueStats]:
    stats = ops.queue_stats(_adapters(), policy=wiring.job_policy())
    return _json(
        ops.with_analysis_state(stats, ops.EsmControl(boto3.client("lambda")), _topology())
    )


@router.post(
    "/redrive",
    middlewares=[admins_only],
    responses={
        **_ok(
            "Each record: redriven, would_redrive (dry run), skipped or error, with the reason; "
            "and what the sweep of the dead-letter queues did with each letter",
            ops.RedriveReport,
        ),
        **POST_ERRORS,
    },
)
def redrive(body: Annotated[RedriveRequest, Body()]) -> Response[ops.RedriveReport]:
    report = ops.redrive(
        _adapters(),
        ids=body.ids,
        lanes=body.lanes,
        dry_run=body.dry_run,
        policy=wiring.job_policy(),
        limit=REDRIVE_LIMIT,
    )
    logger.info(
        "Redrive", extra={"dry_run": body.dry_run, "redriven": report.redriven, "ids": body.ids}
    )
    return _json(report)


@router.post(
    "/pause",
    middlewares=[admins_only],
    responses={**_ok("The lanes' triggers, now disabled", Mappings), **POST_ERRORS},
)
def pause(body: Annotated[LanesRequest, Body()] = LanesRequest()) -> Response[Mappings]:  # noqa: B008
    return _switch_analysis(body, enabled=False)


@router.post(
    "/resume",
    middlewares=[admins_only],
    responses={**_ok("The lanes' triggers, now enabled", Mappings), **POST_ERRORS},
)
def resume(body: Annotated[LanesRequest, Body()] = LanesRequest()) -> Response[Mappings]:  # noqa: B008
    return _switch_analysis(body, enabled=True)


def _switch_analysis(body: LanesRequest, *, enabled: bool) -> Response[Mappings]:
    control = ops.EsmControl(boto3.client("lambda"))
    mappings = ops.set_analysis_enabled(control, _topology(), enabled, lanes=body.lanes)
    logger.info(
        "Analysis resumed" if enabled else "Analysis paused",
        extra={"lanes": [m.lane for m in mappings]},
    )
    return _json(Mappings(mappings=mappings))
