"""What the routes' parameters share: their patterns, and the clinic filter."""

from typing import Any

from aws_lambda_powertools.event_handler.openapi.params import Query

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$"
CURSOR_PATTERN = r"^[A-Za-z0-9_=-]+$"
KEY_PATTERN = r"^[A-Za-z0-9_.:+/=-]+$"


def clinic_filter(description: str) -> Any:
    """The `clinicId` query parameter of a listing."""
    return Query(
        alias="clinicId", min_length=1, max_length=64, pattern=ID_PATTERN, description=description
    )
