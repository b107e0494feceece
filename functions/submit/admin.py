"""Admin routes (the `admins` group only), mounted under /admin by the API function:

GET  /admin/queues   waiting, active, delayed, dead per lane; record statuses (prediag.ops)
POST /admin/redrive  failed jobs back to their lane: {"ids"?, "lanes"?, "dryRun"?}
POST /admin/pause    stop the analysis of the lanes: {"lanes"?}
POST /admin/resume   start it again: {"lanes"?}

The CLI (`prediag stats | redrive | pause | resume`) runs the same functions directly.
"""

from __future__ import annotations

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
from botocore.config import Config
from pydantic import Field

from prediag import ops, wiring
from prediag.models import Contract, Identifier, Lane
from prediag.settings import get_settings

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]
GET_ERRORS = error_responses(401, 403, 409, 422, 429, 500, _409="The operation is not possible now")
POST_ERRORS = error_responses(
    400, 401, 403, 409, 413, 415, 422, 429, 500, _409="The operation is not possible now"
)

REDRIVE_MAX_MESSAGES = 100
"""Dead letters one API call examines per lane (the API answers within its timeout)."""


def admins_only(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """401 without a token (identity), 403 for a caller outside the admins group."""
    caller = identity.current_caller(app)
    if not caller.is_admin:
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


def _json(body: Any) -> Response[Any]:
    return Response(
        status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=body
    )


def _topology() -> ops.Topology:
    return ops.Topology.from_settings(get_settings())


def _sqs() -> Any:
    # few retries: an endpoint without StartMessageMoveTask answers 500, and the fallback must
    # start well within the API's timeout
    return boto3.client("sqs", config=Config(retries={"mode": "standard", "total_max_attempts": 2}))


def _esm_control() -> ops.EsmControl:
    return ops.AwsEsmControl(boto3.client("lambda"))


@router.get(
    "/queues",
    middlewares=[admins_only],
    responses={200: {"description": "Queue and record statistics"}, **GET_ERRORS},
)
def queues() -> Response[ops.QueueStats]:
    stats = ops.queue_stats(
        _topology(),
        wiring.job_queue().client,
        wiring.repository().client,
        policy=wiring.job_policy(),
    )
    return _json(stats.dump())


@router.post(
    "/redrive",
    middlewares=[admins_only],
    responses={200: {"description": "What was (or would be) redriven"}, **POST_ERRORS},
)
def redrive(body: Annotated[RedriveRequest, Body()]) -> Response[ops.RedriveReport]:
    report = ops.redrive(
        _topology(),
        _sqs(),
        wiring.repository(),
        lanes=body.lanes,
        ids=body.ids,
        dry_run=body.dry_run,
        max_messages=REDRIVE_MAX_MESSAGES,
    )
    logger.info(
        "Redrive",
        extra={"dry_run": body.dry_run, "redriven": report.redriven, "ids": body.ids},
    )
    return _json(report.dump())


@router.post(
    "/pause",
    middlewares=[admins_only],
    responses={200: {"description": "The lanes' triggers, now disabled"}, **POST_ERRORS},
)
def pause(
    body: Annotated[LanesRequest | None, Body()] = None,
) -> Response[dict[str, Any]]:
    return _switch_analysis(body, enabled=False)


@router.post(
    "/resume",
    middlewares=[admins_only],
    responses={200: {"description": "The lanes' triggers, now enabled"}, **POST_ERRORS},
)
def resume(
    body: Annotated[LanesRequest | None, Body()] = None,
) -> Response[dict[str, Any]]:
    return _switch_analysis(body, enabled=True)


def _switch_analysis(body: LanesRequest | None, *, enabled: bool) -> Response[dict[str, Any]]:
    lanes = body.lanes if body else None
    mappings = ops.set_analysis_enabled(_esm_control(), _topology(), enabled, lanes=lanes)
    logger.info(
        "Analysis resumed" if enabled else "Analysis paused",
        extra={"lanes": [m.lane for m in mappings]},
    )
    return _json({"mappings": [m.dump() for m in mappings]})


@router.exception_handler(ops.OpsError)  # type: ignore[untyped-decorator]
def cannot_operate(exc: ops.OpsError) -> Response[Any]:
    return Response(
        status_code=HTTPStatus.CONFLICT,
        content_type=content_types.APPLICATION_JSON,
        body={"message": str(exc)},
    )
