"""Who is calling: the Cognito claims API Gateway's authorizer put in the request context."""

import re

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError

from prediag.service import Caller


def current_caller(app: APIGatewayRestResolver) -> Caller:
    """The caller of the request `app` is resolving; 401 when there are no claims."""
    claims = (app.current_event.request_context.authorizer.raw_event or {}).get("claims") or {}
    user_id = claims.get("sub")
    if not user_id:
        raise UnauthorizedError("Unauthorized")
    # REST APIs pass cognito:groups as one string: "vets", "vets,admins" or "[vets admins]".
    groups = frozenset(g for g in re.split(r"[\s,\[\]]+", claims.get("cognito:groups", "")) if g)
    return Caller(user_id=user_id, groups=groups, clinic_id=claims.get("custom:clinic_id") or None)
