"""One typed settings object, read from the environment the template wires.

Each field's alias is its environment variable. The AI ensemble's settings (`AiSettings`, in
prediag.ai.settings) are the `ai` field, validated from the same environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prediag.ai.settings import AiSettings, variable_of
from prediag.errors import ConfigurationError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(default="dev", alias="STAGE")
    table_name: str = Field(alias="TABLE_NAME")
    idempotency_table_name: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE_NAME")
    urgent_queue_url: str = Field(alias="URGENT_QUEUE_URL")
    normal_queue_url: str = Field(alias="NORMAL_QUEUE_URL")
    vet_topic_arn: str | None = Field(default=None, alias="VET_TOPIC_ARN")
    max_attempts: int = Field(default=3, ge=1, le=10, alias="MAX_ATTEMPTS")
    backoff_base_seconds: int = Field(default=2, ge=0, le=300, alias="BACKOFF_BASE_SECONDS")
    public_base_url: str | None = Field(default=None, alias="PUBLIC_BASE_URL")
    # operations (admin routes): dead-letter queues, the analysis' triggers
    urgent_dlq_url: str | None = Field(default=None, alias="URGENT_DLQ_URL")
    normal_dlq_url: str | None = Field(default=None, alias="NORMAL_DLQ_URL")
    analyze_function_name: str | None = Field(default=None, alias="ANALYZE_FUNCTION_NAME")
    # who may submit what: the registered clinics, the per-owner quota (the API function)
    clinics_table_name: str | None = Field(default=None, alias="CLINICS_TABLE_NAME")
    quota_table_name: str | None = Field(default=None, alias="QUOTA_TABLE_NAME")
    submissions_per_window: int = Field(
        default=20,
        ge=1,
        le=1000,
        alias="SUBMISSIONS_PER_OWNER_PER_HOUR",
        description="Accepted submissions per owner in any rolling window",
    )
    quota_window_seconds: int = Field(
        default=3600,
        ge=1,
        le=86400,
        alias="QUOTA_WINDOW_SECONDS",
        description="The quota's rolling window (an hour; shorter in tests)",
    )
    attempt_timeout_seconds: int = Field(
        default=900,
        ge=1,
        le=900,
        alias="ATTEMPT_TIMEOUT_SECONDS",
        description="The analyze function's timeout: an attempt older than this has died",
    )

    ai: AiSettings = Field(
        default_factory=AiSettings, description="The AI ensemble's settings (AI_*, *_MODEL...)"
    )

    @model_validator(mode="before")
    @classmethod
    def _ai_from_the_same_environment(cls, data: object) -> object:
        if isinstance(data, Mapping) and "ai" not in data:
            return {**data, "ai": AiSettings.environment(data)}
        return data


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of `environ` (os.environ by default); ConfigurationError naming each
    variable that is missing or does not validate."""
    try:
        return Settings.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as exc:
        names = ", ".join(dict.fromkeys(variable_of(e["loc"]) for e in exc.errors()))
        raise ConfigurationError(f"missing or invalid settings: {names}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once (a Lambda's environment does not change)."""
    return load_settings()
