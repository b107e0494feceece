"""Cognito user pool emulation on top of moto: minting ID tokens and verifying them as API
Gateway's Cognito authorizer does (RS256 signature against the pool's JWKS, exp, iss,
token_use "id"), and rendering the claims the way API Gateway passes them to a REST (v1)
proxy integration: every value a string, `cognito:groups` comma-joined, `exp`/`iat` as
`Tue Apr 04 18:39:39 UTC 2023`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from prediag_tools.local.aws import client


class Unauthorized(Exception):
    """The request carries no valid ID token of the pool."""


@dataclass(frozen=True)
class Identity:
    user_pool_id: str
    client_id: str
    region: str
    endpoint_url: str


def issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


def apigw_claims(claims: dict[str, Any]) -> dict[str, str]:
    """The claims as API Gateway's REST Cognito authorizer hands them to the integration."""
    out: dict[str, str] = {}
    for key, value in claims.items():
        if key in ("exp", "iat") and isinstance(value, int | float):
            out[key] = datetime.fromtimestamp(value, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


class TokenVerifier:
    """Verifies ID tokens of one moto user pool; the JWKS is fetched once and cached."""

    def __init__(self, endpoint_url: str, region: str, user_pool_id: str) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.user_pool_id = user_pool_id
        self.issuer = issuer(region, user_pool_id)
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def keys(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                url = f"{self.endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                    self._keys = KeySet.import_key_set(json.loads(response.read()))
            return self._keys

    def verify(self, header_value: str | None) -> dict[str, Any]:
        """The token's claims, or Unauthorized."""
        if not header_value:
            raise Unauthorized("missing token")
        token = header_value.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            decoded = jwt.decode(token, self.keys(), algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        claims = dict(decoded.claims)
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            raise Unauthorized("token expired")
        if claims.get("iss") != self.issuer:
            raise Unauthorized("token issued by another user pool")
        if claims.get("token_use") != "id":
            raise Unauthorized("not an ID token")
        return claims


def local_password() -> str:
    """A password that satisfies the template's policy (length, cases, digits)."""
    return f"Local-{secrets.token_urlsafe(12)}-Aa1"


def mint_id_token(
    identity: Identity,
    email: str,
    *,
    groups: list[str] | None = None,
    clinic_id: str | None = None,
) -> str:
    """Create or update `email` in the pool, set its groups, and return a fresh ID token.

    Uses ADMIN_USER_PASSWORD_AUTH, which moto accepts whatever the client's ExplicitAuthFlows.
    """
    idp = client("cognito-idp", identity.endpoint_url, identity.region)
    pool = identity.user_pool_id
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if clinic_id:
        attributes.append({"Name": "custom:clinic_id", "Value": clinic_id})
    try:
        idp.admin_create_user(
            UserPoolId=pool, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "UsernameExistsException":
            raise
        # the e-mail is the username: only the other attributes can change
        others = [a for a in attributes if not a["Name"].startswith("email")]
        if others:
            idp.admin_update_user_attributes(UserPoolId=pool, Username=email, UserAttributes=others)
    password = local_password()
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    current = {
        g["GroupName"]
        for g in idp.admin_list_groups_for_user(UserPoolId=pool, Username=email)["Groups"]
    }
    wanted = set(groups or [])
    for group in sorted(wanted - current):
        idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)
    for group in sorted(current - wanted):
        idp.admin_remove_user_from_group(UserPoolId=pool, Username=email, GroupName=group)
    result = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=identity.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    token: str = result["AuthenticationResult"]["IdToken"]
    return token
