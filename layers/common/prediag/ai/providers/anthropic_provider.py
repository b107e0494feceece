"""Anthropic through the official SDK: the Messages API with one forced tool whose input
schema is ModelAssessment; the tool_use input is validated against the model."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import Message, MessageParam, ToolChoiceToolParam, ToolParam

from prediag.ai.deadline import Deadline
from prediag.ai.providers._http import (
    SdkBinding,
)
from prediag.ai.providers.base import (
    ProviderAnswer,
    ProviderFailure,
    short,
    tool_assessment,
)
from prediag.ai.schema import TOOL_DESCRIPTION, TOOL_NAME, tool_input_schema
from prediag.ai.settings import AiSettings


class _DeadlineReached(anthropic.AnthropicError):
    """Raised by the transport; an AnthropicError outside the retried types, so the SDK
    re-raises it without retrying."""

    retries: int | None = None


_SDK = SdkBinding(
    anthropic,
    anthropic.Anthropic,
    anthropic.DefaultHttpxClient,
    "ANTHROPIC_BASE_URL",
    _DeadlineReached,
)


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, settings: AiSettings) -> None:
        self.model = settings.anthropic_model
        self._settings = settings
        self._client = _SDK.client(api_key, settings.max_retries, settings.anthropic_timeout_s)

    def _call(self, system: str, user: str, deadline: Deadline) -> Message:
        tool: ToolParam = {
            "name": TOOL_NAME,
            "description": TOOL_DESCRIPTION,
            "input_schema": tool_input_schema(),
        }
        choice: ToolChoiceToolParam = {"type": "tool", "name": TOOL_NAME}
        messages: list[MessageParam] = [{"role": "user", "content": user}]
        try:
            with _SDK.failures():
                return self._client.messages.create(
                    model=self.model,
                    max_tokens=self._settings.max_output_tokens,
                    system=system,
                    messages=messages,
                    tools=[tool],
                    tool_choice=choice,
                    timeout=max(deadline.remaining(), 0.001),
                )
        except (anthropic.APIResponseValidationError, json.JSONDecodeError) as exc:
            detail = short(exc, 200)
            raise ProviderFailure("invalid_output", f"unreadable answer: {detail}") from exc

    def assess(self, system: str, user: str, deadline: Deadline) -> ProviderAnswer:
        message = self._call(system, user, deadline)
        usage = message.usage
        input_tokens = (
            usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
        )
        output_tokens = usage.output_tokens
        model = message.model or self.model
        tokens: dict[str, Any] = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "model": model,
        }
        if message.stop_reason == "refusal":
            raise ProviderFailure("refused", "the model refused to answer", **tokens)
        if message.stop_reason == "max_tokens":
            raise ProviderFailure("invalid_output", "answer cut at the token limit", **tokens)
        tool_input = next(
            (
                block.input
                for block in message.content
                if block.type == "tool_use" and block.name == TOOL_NAME
            ),
            None,
        )
        assessment = tool_assessment(tool_input, **tokens)
        return ProviderAnswer(assessment, model, input_tokens, output_tokens)
