"""OpenAI through the official SDK: Chat Completions with a strict JSON-schema
`response_format` built from ModelAssessment, parsed by `chat.completions.parse`."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
from openai.types.chat import ChatCompletionMessageParam

from prediag.ai.deadline import Deadline
from prediag.ai.providers._http import (
    SdkBinding,
)
from prediag.ai.providers.base import (
    ProviderAnswer,
    ProviderFailure,
    short,
    validation_summary,
)
from prediag.ai.schema import ModelAssessment
from prediag.ai.settings import AiSettings


class _DeadlineReached(openai.OpenAIError):
    """Raised by the transport; an OpenAIError, so the SDK re-raises it without retrying."""

    retries: int | None = None


_SDK = SdkBinding(
    openai, openai.OpenAI, openai.DefaultHttpxClient, "OPENAI_BASE_URL", _DeadlineReached
)


def _uses_reasoning(model: str) -> bool:
    """Reasoning models refuse a temperature."""
    return model.startswith(("o1", "o3", "o4", "gpt-5"))


def _usage_from_body(body: bytes) -> tuple[int, int]:
    try:
        usage = json.loads(body).get("usage") or {}
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0, 0


class OpenAIProvider:
    name = "openai"

    def __init__(self, api_key: str, settings: AiSettings) -> None:
        self.model = settings.openai_model
        self._settings = settings
        self._client = _SDK.client(api_key, settings.max_retries, settings.openai_timeout_s)

    def assess(self, system: str, user: str, deadline: Deadline) -> ProviderAnswer:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        extra: dict[str, Any] = {}
        if not _uses_reasoning(self.model):
            extra["temperature"] = self._settings.temperature
        try:
            with _SDK.failures():
                raw = self._client.chat.completions.with_raw_response.parse(
                    model=self.model,
                    messages=messages,
                    response_format=ModelAssessment,
                    max_completion_tokens=self._settings.max_output_tokens,
                    timeout=max(deadline.remaining(), 0.001),
                    **extra,
                )
        except openai.APIResponseValidationError as exc:
            raise ProviderFailure("invalid_output", short(exc)) from exc

        input_tokens, output_tokens = _usage_from_body(raw.http_response.content)
        try:
            completion = raw.parse()
        except openai.LengthFinishReasonError as exc:
            raise ProviderFailure(
                "invalid_output",
                "answer cut at the token limit",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            ) from exc
        except openai.ContentFilterFinishReasonError as exc:
            raise ProviderFailure(
                "refused", "content filter", input_tokens=input_tokens, output_tokens=output_tokens
            ) from exc
        except (pydantic.ValidationError, ValueError, TypeError) as exc:
            detail = (
                validation_summary(exc)
                if isinstance(exc, pydantic.ValidationError)
                else type(exc).__name__
            )
            raise ProviderFailure(
                "invalid_output",
                f"answer does not validate: {detail}",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            ) from exc

        model = completion.model or self.model
        if not completion.choices:
            raise ProviderFailure("invalid_output", "no choice in the answer", model=model)
        message = completion.choices[0].message
        if message.refusal:
            raise ProviderFailure(
                "refused",
                f"refusal: {short(message.refusal, 200)}",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                model=model,
            )
        if message.parsed is None:
            raise ProviderFailure(
                "invalid_output",
                "empty answer",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                model=model,
            )
        return ProviderAnswer(
            assessment=message.parsed,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
