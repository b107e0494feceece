"""Credentials of the providers.

- OpenAI and Anthropic: the API key from the SDK's own environment variable (OPENAI_API_KEY,
  ANTHROPIC_API_KEY) when set; otherwise from the SSM Parameter Store SecureString named by
  OPENAI_KEY_PARAMETER / ANTHROPIC_KEY_PARAMETER, read with Powertools parameters (decrypted,
  cached 5 minutes). A missing parameter means the provider has no credentials: it is skipped
  and this is logged once per execution environment.
- Bedrock: AWS credentials resolved by the default boto3 chain, and an endpoint that is
  explicit or real: AWS_ENDPOINT_URL_BEDROCK_RUNTIME is set, or the code runs on AWS Lambda
  without a global AWS_ENDPOINT_URL override. A run whose AWS calls go to another endpoint
  (AWS_ENDPOINT_URL) or a laptop's own AWS profile never calls Bedrock by accident.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools import Logger

from prediag.ai.settings import AiSettings, ProviderName

logger = Logger(child=True)

KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
SSM_MAX_AGE_S = 300

_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


@dataclass(frozen=True)
class Credential:
    """A provider's credentials: `found` (with the API key for key-based providers), `absent`
    (the provider does not run) or `error` (a lookup failed; another attempt may succeed)."""

    provider: ProviderName
    state: Literal["found", "absent", "error"]
    api_key: str | None = None
    detail: str = ""

    def __repr__(self) -> str:  # never show the key
        return f"Credential({self.provider!r}, {self.state!r}, detail={self.detail!r})"


def _log_once(provider: str, message: str, *, level: str = "info") -> None:
    with _logged_lock:
        if (provider, message) in _logged:
            return
        _logged.add((provider, message))
    getattr(logger, level)(message, extra={"provider": provider})


def _parameter_name(provider: ProviderName, settings: AiSettings) -> str | None:
    if provider == "openai":
        return settings.openai_key_parameter
    if provider == "anthropic":
        return settings.anthropic_key_parameter
    return None


def _ssm_key(provider: ProviderName, name: str) -> Credential:
    from aws_lambda_powertools.utilities.parameters import GetParameterError, get_parameter

    try:
        value = get_parameter(name, decrypt=True, max_age=SSM_MAX_AGE_S)
    except GetParameterError as exc:
        cause = exc.__context__ or exc
        code = getattr(cause, "response", {}).get("Error", {}).get("Code", "")
        if code == "ParameterNotFound" or "ParameterNotFound" in str(exc):
            _log_once(provider, f"SSM parameter {name} does not exist: {provider} is skipped")
            return Credential(provider, "absent", detail=f"SSM parameter {name} not found")
        logger.warning(
            "SSM parameter lookup failed", extra={"provider": provider, "error": str(exc)[:300]}
        )
        return Credential(provider, "error", detail=f"SSM parameter {name}: {str(exc)[:200]}")
    if not isinstance(value, str) or not value.strip():
        _log_once(provider, f"SSM parameter {name} is empty: {provider} is skipped")
        return Credential(provider, "absent", detail=f"SSM parameter {name} is empty")
    return Credential(provider, "found", api_key=value.strip(), detail=f"ssm:{name}")


def bedrock_endpoint_allowed(environ: dict[str, str] | None = None) -> bool:
    """Bedrock runs against an explicit endpoint, or on Lambda without an endpoint override."""
    env = os.environ if environ is None else environ
    if env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "").strip():
        return True
    on_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME", "").strip())
    return on_lambda and not env.get("AWS_ENDPOINT_URL", "").strip()


def _bedrock_credential() -> Credential:
    if not bedrock_endpoint_allowed():
        _log_once(
            "bedrock",
            "bedrock is skipped: not on Lambda and AWS_ENDPOINT_URL_BEDROCK_RUNTIME is not set",
        )
        return Credential("bedrock", "absent", detail="no Bedrock endpoint in this environment")
    from prediag.ai.providers.bedrock_provider import aws_credentials_available

    try:
        available = aws_credentials_available()
    except Exception as exc:
        return Credential("bedrock", "error", detail=f"AWS credentials: {str(exc)[:200]}")
    if not available:
        _log_once("bedrock", "bedrock is skipped: no AWS credentials resolve")
        return Credential("bedrock", "absent", detail="no AWS credentials")
    return Credential("bedrock", "found", detail="aws")


def resolve_credential(provider: ProviderName, settings: AiSettings) -> Credential:
    if provider == "bedrock":
        return _bedrock_credential()
    from_env = os.environ.get(KEY_ENV[provider], "").strip()
    if from_env:
        return Credential(provider, "found", api_key=from_env, detail=f"env:{KEY_ENV[provider]}")
    parameter = _parameter_name(provider, settings)
    if not parameter:
        _log_once(
            provider,
            f"{provider} is skipped: neither {KEY_ENV[provider]} nor a key parameter is set",
        )
        return Credential(provider, "absent", detail="no API key configured")
    return _ssm_key(provider, parameter)


def resolve_credentials(settings: AiSettings) -> dict[ProviderName, Credential]:
    """Credentials of every provider enabled in AI_PROVIDERS, in that order."""
    return {name: resolve_credential(name, settings) for name in settings.providers}
