"""The AI providers behind one interface. Each provider module imports its SDK, so a provider
module is imported only when that provider is first used."""

from __future__ import annotations

from prediag.ai.providers.base import (
    RETRYABLE,
    FailureKind,
    Provider,
    ProviderAnswer,
    ProviderFailure,
)
from prediag.ai.settings import AiSettings, ProviderName

__all__ = [
    "RETRYABLE",
    "FailureKind",
    "Provider",
    "ProviderAnswer",
    "ProviderFailure",
    "create_provider",
    "preload",
]


def create_provider(name: ProviderName, api_key: str | None, settings: AiSettings) -> Provider:
    """The provider `name`, configured from `settings`; `api_key` for key-based providers."""
    if name == "openai":
        from prediag.ai.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(_require(api_key, name), settings)
    if name == "anthropic":
        from prediag.ai.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(_require(api_key, name), settings)
    if name == "bedrock":
        from prediag.ai.providers.bedrock_provider import BedrockProvider

        return BedrockProvider(settings)
    raise ValueError(f"unknown provider {name!r}")


def preload(names: tuple[ProviderName, ...]) -> None:
    """Import the SDKs of `names` now (for example during a Lambda's init phase) instead of
    during the first analysis."""
    import importlib

    for name in names:
        importlib.import_module(f"prediag.ai.providers.{name}_provider")


def _require(api_key: str | None, name: str) -> str:
    if not api_key:
        raise ValueError(f"{name} needs an API key")
    return api_key
