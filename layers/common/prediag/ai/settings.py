"""Settings of the AI ensemble, read from the environment the template wires.

Every value has a default, so a bare environment gives the documented behaviour: all three
providers enabled, and those that have credentials run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    """Which providers may run, with which models, within which time and at which price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    providers: tuple[ProviderName, ...] = Field(
        default=PROVIDER_NAMES, description="AI_PROVIDERS: providers allowed to run"
    )
    openai_model: str = "gpt-4.1-mini"
    anthropic_model: str = "claude-sonnet-4-6"
    bedrock_model: str = "amazon.nova-pro-v1:0"
    openai_timeout_s: float = Field(default=30.0, gt=0, le=900)
    anthropic_timeout_s: float = Field(default=30.0, gt=0, le=900)
    bedrock_timeout_s: float = Field(default=30.0, gt=0, le=900)
    max_retries: int = Field(default=2, ge=0, le=10, description="SDK retries per provider")
    min_attempt_s: float = Field(
        default=1.0,
        ge=0,
        description="A retry starts only if this much time is left once its wait is over",
    )
    safety_margin_ms: int = Field(
        default=5000, ge=0, description="Time kept from the function's remaining time"
    )
    max_output_tokens: int = Field(default=2048, ge=256, le=32000)
    temperature: float = Field(default=0.2, ge=0, le=1)
    solo_differential_likelihood: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A differential only one provider proposes at or above this is flagged",
    )
    prices: dict[ProviderName, tuple[float, float]] = Field(
        default_factory=dict, description="AI_PRICE_<PROVIDER> overrides, USD per 1M tokens"
    )
    openai_key_parameter: str | None = None
    anthropic_key_parameter: str | None = None
    bedrock_region: str | None = None

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            return tuple(dict.fromkeys(names))
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AiSettings:
        env = os.environ if environ is None else environ
        mapping = {
            "providers": "AI_PROVIDERS",
            "openai_model": "OPENAI_MODEL",
            "anthropic_model": "ANTHROPIC_MODEL",
            "bedrock_model": "BEDROCK_MODEL",
            "openai_timeout_s": "OPENAI_TIMEOUT_S",
            "anthropic_timeout_s": "ANTHROPIC_TIMEOUT_S",
            "bedrock_timeout_s": "BEDROCK_TIMEOUT_S",
            "max_retries": "AI_MAX_RETRIES",
            "min_attempt_s": "AI_MIN_ATTEMPT_S",
            "safety_margin_ms": "AI_SAFETY_MARGIN_MS",
            "max_output_tokens": "AI_MAX_OUTPUT_TOKENS",
            "temperature": "AI_TEMPERATURE",
            "solo_differential_likelihood": "AI_SOLO_DIFFERENTIAL_LIKELIHOOD",
            "openai_key_parameter": "OPENAI_KEY_PARAMETER",
            "anthropic_key_parameter": "ANTHROPIC_KEY_PARAMETER",
        }
        values: dict[str, object] = {
            field: env[name] for field, name in mapping.items() if env.get(name, "").strip()
        }
        if "AI_PROVIDERS" in env:  # set but empty: every provider disabled
            values["providers"] = env["AI_PROVIDERS"]
        region = env.get("BEDROCK_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            values["bedrock_region"] = region
        prices: dict[str, tuple[float, float]] = {}
        for name in PROVIDER_NAMES:
            raw = env.get(f"AI_PRICE_{name.upper()}", "").strip()
            if raw:
                try:
                    price_in, price_out = (float(part) for part in raw.split(","))
                except ValueError as exc:
                    raise ConfigurationError(
                        f"AI_PRICE_{name.upper()} must be '<input>,<output>' USD per 1M tokens"
                    ) from exc
                prices[name] = (price_in, price_out)
        values["prices"] = prices
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            fields = ", ".join(str(err["loc"][0]) for err in exc.errors())
            raise ConfigurationError(f"invalid AI settings: {fields}") from exc

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
