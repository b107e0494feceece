"""Fake Anthropic Messages API: `POST /v1/messages` with a forced tool, answered with a
`tool_use` content block (stop_reason "tool_use"), "refusal" as stop_reason on refusal, usage
tokens; errors in the real `{"type": "error", "error": {...}}` shape."""

from __future__ import annotations

import json
import secrets
from typing import Any

from tests.fakes.scenario import MALFORMED_JSON, answer_for
from tests.fakes.server import Behaviour, FakeProviderServer, RecordedRequest, Reply

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "tools.0.input_schema: JSON schema is invalid"),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    529: ("overloaded_error", "Overloaded"),
}


def _tool_name(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name"):
        return str(choice["name"])
    tools = body.get("tools") or [{}]
    return str(tools[0].get("name", "record_assessment"))


class FakeAnthropic(FakeProviderServer):
    name = "anthropic"

    def user_text(self, request: RecordedRequest) -> str:
        return str((request.body or {})["messages"][-1]["content"])

    def matches(self, path: str) -> bool:
        return path.split("?")[0].rstrip("/") == "/v1/messages"

    def answer(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        body: dict[str, Any] = request.body or {}
        headers = {"request-id": "req_" + secrets.token_hex(8)}
        if behaviour.kind == "malformed_json":
            # A 200 whose body is cut in the middle of the JSON.
            return Reply(
                200,
                ('{"id": "msg_1", "type": "message", "content": ' + MALFORMED_JSON).encode(),
                headers,
            )
        content: list[dict[str, Any]]
        stop_reason = "tool_use"
        if behaviour.kind == "refusal":
            content, stop_reason = [], "refusal"
        else:
            tool_input = answer_for(behaviour.kind, self.scenario)
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": _tool_name(body),
                    "input": tool_input,
                }
            ]
        payload = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": str(body.get("model", "claude-sonnet-4-5")),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.tokens(request.raw),
                "output_tokens": self.tokens(json.dumps(content)),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }
        return Reply(200, json.dumps(payload).encode(), headers)

    def error(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        status = {
            "rate_limit": 429,
            "unauthorized": 401,
            "forbidden": 403,
            "bad_request": 400,
            "echo_bad_request": 400,
        }.get(behaviour.kind, behaviour.status)
        err_type, message = _ERRORS.get(status, ("api_error", "Internal server error"))
        if behaviour.kind == "echo_bad_request":
            message = self.quoted(request)
        headers = {"request-id": "req_" + secrets.token_hex(8)}
        if status == 429:
            headers["retry-after"] = f"{behaviour.retry_after_s:g}"
            headers["anthropic-ratelimit-requests-remaining"] = "0"
        body = {
            "type": "error",
            "error": {"type": err_type, "message": message},
            "request_id": headers["request-id"],
        }
        return Reply(status, json.dumps(body).encode(), headers)
