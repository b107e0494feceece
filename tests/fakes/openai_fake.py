"""Fake OpenAI Chat Completions: `POST /v1/chat/completions` with a json_schema
`response_format`, answered in the real `chat.completion` shape (message content holds the
JSON, `refusal` set on refusal, usage tokens), errors in the real `{"error": {...}}` shape."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from tests.fakes.scenario import MALFORMED_JSON, answer_for, dumps
from tests.fakes.server import Behaviour, FakeProviderServer, RecordedRequest, Reply

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid schema for response_format 'ModelAssessment'."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: {key}."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
}


def _masked(authorization: str) -> str:
    key = authorization.removeprefix("Bearer ").strip()
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "***"


class FakeOpenAI(FakeProviderServer):
    name = "openai"

    def user_text(self, request: RecordedRequest) -> str:
        return str((request.body or {})["messages"][-1]["content"])

    def matches(self, path: str) -> bool:
        return path.split("?")[0].rstrip("/") in ("/v1/chat/completions", "/chat/completions")

    def answer(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        body: dict[str, Any] = request.body or {}
        model = str(body.get("model", "gpt-4.1-mini"))
        content: str | None
        refusal: str | None = None
        if behaviour.kind == "refusal":
            content, refusal = None, "I'm sorry, but I can't help with that request."
        elif behaviour.kind == "malformed_json":
            content = MALFORMED_JSON
        else:
            content = dumps(answer_for(behaviour.kind, self.scenario))
        prompt_tokens = self.tokens(request.raw)
        completion_tokens = self.tokens(content or refusal or "")
        payload = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        return Reply(
            200, json.dumps(payload).encode(), {"x-request-id": "req_" + secrets.token_hex(8)}
        )

    def error(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        status = {
            "rate_limit": 429,
            "unauthorized": 401,
            "forbidden": 403,
            "bad_request": 400,
            "echo_bad_request": 400,
        }.get(behaviour.kind, behaviour.status)
        err_type, code, message = _ERRORS.get(
            status,
            ("server_error", None, "The server had an error while processing your request."),
        )
        if status == 401:  # the real API quotes the key it refused, masked in the middle
            message = message.format(key=_masked(request.header("authorization") or ""))
        if behaviour.kind == "echo_bad_request":
            message = self.quoted(request)
        headers = {"x-request-id": "req_" + secrets.token_hex(8)}
        if status == 429:
            headers["retry-after"] = f"{behaviour.retry_after_s:g}"
            headers["x-ratelimit-remaining-requests"] = "0"
        body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        return Reply(status, json.dumps(body).encode(), headers)
