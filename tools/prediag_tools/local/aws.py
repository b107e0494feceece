"""boto3 clients bound to the local (moto) endpoint, with fake credentials."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5)


def client(service: str, endpoint_url: str, region: str, *, read_timeout: int = 60) -> Any:
    """A boto3 client for `service` at the local endpoint (never real AWS)."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=_CONFIG.merge(Config(read_timeout=read_timeout)),
    )
