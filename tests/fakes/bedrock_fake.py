"""Fake Amazon Bedrock Runtime Converse: `POST /model/{modelId}/converse` (restJson1), answered
with a `toolUse` block in output.message.content, stopReason "tool_use", usage
inputTokens/outputTokens; errors as `x-amzn-ErrorType` + `{"message": ...}`. Requests are
SigV4-signed by botocore; the fake does not check signatures."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import unquote

from tests.fakes.scenario import MALFORMED_JSON, answer_for
from tests.fakes.server import Behaviour, FakeProviderServer, RecordedRequest, Reply

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/converse$")
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("ValidationException", "The provided request is not valid"),
    403: ("UnrecognizedClientException", "The security token included in the request is invalid."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error."),
    503: ("ServiceUnavailableException", "The service is temporarily unavailable."),
}


def _tool_name(body: dict[str, Any]) -> str:
    config = body.get("toolConfig") or {}
    chosen = ((config.get("toolChoice") or {}).get("tool") or {}).get("name")
    if chosen:
        return str(chosen)
    tools = config.get("tools") or [{}]
    return str((tools[0].get("toolSpec") or {}).get("name", "record_assessment"))


class FakeBedrock(FakeProviderServer):
    name = "bedrock"

    def user_text(self, request: RecordedRequest) -> str:
        return str((request.body or {})["messages"][-1]["content"][0]["text"])

    def matches(self, path: str) -> bool:
        return bool(_PATH.match(path.split("?")[0]))

    @staticmethod
    def model_of(request: RecordedRequest) -> str:
        match = _PATH.match(request.path.split("?")[0])
        return unquote(match["model"]) if match else ""

    def _headers(self) -> dict[str, str]:
        return {"x-amzn-RequestId": secrets.token_hex(16)}

    def answer(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        body: dict[str, Any] = request.body or {}
        if behaviour.kind == "malformed_json":
            return Reply(
                200,
                ('{"output": {"message": {"content": ' + MALFORMED_JSON).encode(),
                self._headers(),
            )
        stop_reason = "tool_use"
        content: list[dict[str, Any]]
        if behaviour.kind == "refusal":
            content = [{"text": "I can't help with that."}]
            stop_reason = "content_filtered"
        else:
            tool_input = answer_for(behaviour.kind, self.scenario)
            content = [
                {
                    "toolUse": {
                        "toolUseId": "tooluse_" + secrets.token_hex(10),
                        "name": _tool_name(body),
                        "input": tool_input,
                    }
                }
            ]
        input_tokens = self.tokens(request.raw)
        output_tokens = self.tokens(json.dumps(content))
        payload = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": int(behaviour.delay_s * 1000)},
        }
        return Reply(200, json.dumps(payload).encode(), self._headers())

    def error(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        status = {
            "rate_limit": 429,
            "unauthorized": 403,
            "forbidden": 403,
            "bad_request": 400,
            "echo_bad_request": 400,
        }.get(behaviour.kind, behaviour.status)
        code, message = _ERRORS.get(status, ("InternalServerException", "Internal error."))
        if behaviour.kind == "echo_bad_request":
            message = self.quoted(request)
        headers = self._headers()
        headers["x-amzn-ErrorType"] = f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        if status == 429:
            headers["x-amz-retry-after"] = str(int(behaviour.retry_after_s * 1000))
            headers["Retry-After"] = f"{behaviour.retry_after_s:g}"
        return Reply(status, json.dumps({"message": message}).encode(), headers)
