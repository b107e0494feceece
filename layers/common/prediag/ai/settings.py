"""Settings of the AI ensemble, read from the environment the template wires.

Every value has a default, so a bare environment gives the documented behaviour: all three
providers enabled, and those that have credentials run. `prediag.settings.Settings` holds these
as its `ai` field, validated from the same environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from prediag.errors import ConfigurationError

ProviderName = Literal["openai", "anthropic", "bedrock"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("openai", "anthropic", "bedrock")

# USD per million tokens (input, output), list prices. A provider's price can be overridden
# with AI_PRICE_<PROVIDER>="<input>,<output>" when the model or the contract differs.
PRICE_TABLE: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-sonnet-4-6": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "amazon.nova-pro-v1:0": (0.80, 3.20),
    "amazon.nova-lite-v1:0": (0.06, 0.24),
    "amazon.nova-micro-v1:0": (0.035, 0.14),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": (3.00, 15.00),
    "anthropic.claude-haiku-4-5-20251001-v1:0": (1.00, 5.00),
    "meta.llama3-3-70b-instruct-v1:0": (0.72, 0.72),
    "mistral.mistral-large-2407-v1:0": (2.00, 6.00),
}

_PRICE_HELP = "'<input>,<output>' USD per 1M tokens"

# Cross-region inference profiles prefix the model id ("eu.amazon.nova-pro-v1:0").
_INFERENCE_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|us-gov|jp|au|ca|global)\.")


def price_per_million(model: str) -> tuple[float, float] | None:
    """The list price of `model`, matching dated snapshots ("gpt-4.1-mini-2025-04-14") and
    cross-region profiles to their base model. None when the model is unknown."""
    name = _INFERENCE_PROFILE_PREFIX.sub("", model.strip().lower())
    if name in PRICE_TABLE:
        return PRICE_TABLE[name]
    prefixes = [key for key in PRICE_TABLE if name.startswith(key + "-")]
    return PRICE_TABLE[max(prefixes, key=len)] if prefixes else None


class AiSettings(BaseModel):
    """Which providers may run, with which models, within which time and at which price.

    Validated from the environment: each field's alias is its variable (`from_env`, or nested
    in `prediag.settings.Settings` as `ai`); built in code by field name. A blank variable
    counts as unset, except AI_PROVIDERS, which set but empty disables every provider.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    providers: tuple[ProviderName, ...] = Field(
        default=PROVIDER_NAMES, alias="AI_PROVIDERS", description="Providers allowed to run"
    )
    openai_model: str = Field(default="gpt-4.1-mini", alias="OPENAI_MODEL")
    anthropic_model: str = Field(default="claude-sonnet-4-6", alias="ANTHROPIC_MODEL")
    bedrock_model: str = Field(default="amazon.nova-pro-v1:0", alias="BEDROCK_MODEL")
    openai_timeout_s: float = Field(default=30.0, gt=0, le=900, alias="OPENAI_TIMEOUT_S")
    anthropic_timeout_s: float = Field(default=30.0, gt=0, le=900, alias="ANTHROPIC_TIMEOUT_S")
    bedrock_timeout_s: float = Field(default=30.0, gt=0, le=900, alias="BEDROCK_TIMEOUT_S")
    max_retries: int = Field(
        default=2, ge=0, le=10, alias="AI_MAX_RETRIES", description="SDK retries per provider"
    )
    min_attempt_s: float = Field(
        default=1.0,
        ge=0,
        alias="AI_MIN_ATTEMPT_S",
        description="A retry starts only if this much time is left once its wait is over",
    )
    safety_margin_ms: int = Field(
        default=5000,
        ge=0,
        alias="AI_SAFETY_MARGIN_MS",
        description="Time kept from the function's remaining time",
    )
    max_output_tokens: int = Field(default=2048, ge=256, le=32000, alias="AI_MAX_OUTPUT_TOKENS")
    temperature: float = Field(default=0.2, ge=0, le=1, alias="AI_TEMPERATURE")
    solo_differential_likelihood: float = Field(
        default=0.5,
        ge=0,
        le=1,
        alias="AI_SOLO_DIFFERENTIAL_LIKELIHOOD",
        description="A differential only one provider proposes at or above this is flagged",
    )
    openai_price: tuple[float, float] | None = Field(
        default=None, alias="AI_PRICE_OPENAI", description=_PRICE_HELP
    )
    anthropic_price: tuple[float, float] | None = Field(
        default=None, alias="AI_PRICE_ANTHROPIC", description=_PRICE_HELP
    )
    bedrock_price: tuple[float, float] | None = Field(
        default=None, alias="AI_PRICE_BEDROCK", description=_PRICE_HELP
    )
    openai_key_parameter: str | None = Field(default=None, alias="OPENAI_KEY_PARAMETER")
    anthropic_key_parameter: str | None = Field(default=None, alias="ANTHROPIC_KEY_PARAMETER")
    bedrock_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BEDROCK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="BEDROCK_REGION, else the function's AWS_REGION / AWS_DEFAULT_REGION",
    )

    @model_validator(mode="before")
    @classmethod
    def _as_the_environment_means_it(cls, data: object) -> object:
        """A blank variable is unset (but for the provider list); of a field's alternative
        variables (BEDROCK_REGION, AWS_REGION...), the first one set is read, the others
        dropped."""
        if not isinstance(data, Mapping):
            return data
        values = {
            key: value
            for key, value in data.items()
            if key in ("AI_PROVIDERS", "providers")
            or not (isinstance(value, str) and not value.strip())
        }
        for choices in _alias_choices(cls):
            for later in [name for name in choices if name in values][1:]:
                del values[later]
        return values

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            return tuple(dict.fromkeys(names))
        return value

    @field_validator("openai_price", "anthropic_price", "bedrock_price", mode="before")
    @classmethod
    def _split_price(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if len(parts) != 2:
                raise ValueError(f"must be {_PRICE_HELP}")
            return tuple(parts)
        return value

    @classmethod
    def environment(cls, environ: Mapping[str, str]) -> dict[str, str]:
        """The variables of `environ` this model reads."""
        names = _variable_names(cls)
        return {key: value for key, value in environ.items() if key in names}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AiSettings:
        """The AI settings of `environ` (os.environ by default); ConfigurationError naming each
        variable that does not validate."""
        env = os.environ if environ is None else environ
        try:
            return cls.model_validate(cls.environment(env))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid AI settings: {describe_errors(exc)}") from exc

    @property
    def prices(self) -> dict[ProviderName, tuple[float, float]]:
        """The AI_PRICE_<PROVIDER> overrides, USD per million tokens (input, output)."""
        overrides: dict[ProviderName, tuple[float, float] | None] = {
            "openai": self.openai_price,
            "anthropic": self.anthropic_price,
            "bedrock": self.bedrock_price,
        }
        return {name: price for name, price in overrides.items() if price is not None}

    def model_for(self, provider: ProviderName) -> str:
        return {
            "openai": self.openai_model,
            "anthropic": self.anthropic_model,
            "bedrock": self.bedrock_model,
        }[provider]

    def timeout_for(self, provider: ProviderName) -> float:
        return {
            "openai": self.openai_timeout_s,
            "anthropic": self.anthropic_timeout_s,
            "bedrock": self.bedrock_timeout_s,
        }[provider]

    def cost_usd(self, provider: ProviderName, input_tokens: int, output_tokens: int) -> float:
        """Cost of one call; 0.0 when the model has no known price."""
        price = self.prices.get(provider) or price_per_million(self.model_for(provider))
        if price is None:
            return 0.0
        return round((input_tokens * price[0] + output_tokens * price[1]) / 1_000_000, 6)


def _alias_choices(model: type[BaseModel]) -> list[list[str]]:
    """The variables each field reads, in order of preference."""
    fields: list[list[str]] = []
    for field in model.model_fields.values():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            fields.append([choice for choice in alias.choices if isinstance(choice, str)])
        elif isinstance(alias, str):
            fields.append([alias])
    return fields


def _variable_names(model: type[BaseModel]) -> frozenset[str]:
    """Every environment variable a model's fields read."""
    return frozenset(name for choices in _alias_choices(model) for name in choices)


def variable_of(loc: tuple[int | str, ...]) -> str:
    """The variable a validation error is about: the last name in its location (a nested
    model's field, not the nesting one; a list's field, not the item index)."""
    names = [part for part in loc if isinstance(part, str)]
    return names[-1] if names else "settings"


def describe_errors(exc: ValidationError) -> str:
    """'AI_PROVIDERS (Input should be ...), AI_PRICE_BEDROCK (...)': each variable at fault,
    once, with pydantic's reason (never the value, which may be a secret)."""
    reasons: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        reasons.setdefault(variable_of(error["loc"]), error["msg"])
    return ", ".join(f"{name} ({reason})" for name, reason in reasons.items())
