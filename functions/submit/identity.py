"""Who is calling: the Cognito claims API Gateway's authorizer put in the request context."""

import re
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError

from prediag.access import Caller


def caller_of(event: Mapping[str, Any]) -> Caller:
    """The caller of this API Gateway (REST) event; 401 when there are no claims."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    user_id = claims.get("sub")
    if not user_id:
        raise UnauthorizedError("Unauthorized")
    # REST APIs pass cognito:groups as one string: "vets", "vets,admins" or "[vets admins]".
    groups = frozenset(g for g in re.split(r"[\s,\[\]]+", claims.get("cognito:groups", "")) if g)
    return Caller(user_id=user_id, groups=groups, clinic_id=claims.get("custom:clinic_id") or None)
