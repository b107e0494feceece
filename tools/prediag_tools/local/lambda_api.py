"""Lambda's own API for the local functions and their event source mappings, on 127.0.0.1.

The paths, parameters and JSON shapes of the Lambda service (botocore's model
`lambda/2015-03-31`), so that `boto3.client("lambda")` with `AWS_ENDPOINT_URL_LAMBDA` (or
`--endpoint-url` of the AWS CLI) works unchanged:

- ListEventSourceMappings: `GET /2015-03-31/event-source-mappings/?FunctionName=&EventSourceArn=
  &Marker=&MaxItems=`
- GetEventSourceMapping: `GET /2015-03-31/event-source-mappings/{UUID}`
- UpdateEventSourceMapping: `PUT /2015-03-31/event-source-mappings/{UUID}` (202; `Enabled`,
  `BatchSize`, `MaximumBatchingWindowInSeconds`, `ScalingConfig`, `FilterCriteria`... as the
  mapping's kind allows)
- Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations` (`X-Amz-Invocation-Type`
  RequestResponse, Event or DryRun)

Errors have Lambda's shape: the status, an `x-amzn-ErrorType` header and a body
`{"Type": "User", "Message": ...}` (404 ResourceNotFoundException for an unknown UUID or
function, 400 InvalidParameterValueException for a value the mapping cannot take).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from prediag_tools.local import logs
from prediag_tools.local.esm import SqsPoller, StreamPoller, UpdateError
from prediag_tools.local.httpserver import JsonRequestHandler, LoopbackServer, ServedInThread
from prediag_tools.local.workers import FunctionPool, PoolBusy, PoolClosed

Poller = SqsPoller | StreamPoller
API_VERSION = "/2015-03-31"
_ESM_ONE = re.compile(rf"{API_VERSION}/event-source-mappings/([^/]+)/?")
_ESM_LIST = re.compile(rf"{API_VERSION}/event-source-mappings/?")
_INVOKE = re.compile(rf"{API_VERSION}/functions/([^/]+)/invocations/?")
INVOKE_WAIT_S = 30.0  # how long an invocation waits for a free environment before a 429
MAX_PAYLOAD = 6 * 1024 * 1024


class LambdaError(Exception):
    def __init__(self, status: int, error_type: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.extra = extra


def _not_found(message: str = "The resource you requested does not exist.") -> LambdaError:
    return LambdaError(404, "ResourceNotFoundException", message)


def _invalid(message: str) -> LambdaError:
    return LambdaError(400, "InvalidParameterValueException", message)


class LambdaApi(ServedInThread):
    """The Lambda API server; `serve()` runs it in a thread. Bound (or failing) at creation."""

    thread_name = "lambda-api"

    def __init__(self, host: str = "127.0.0.1", port: int = 3001) -> None:
        self.mappings: dict[str, Poller] = {}
        self.functions: dict[str, FunctionPool] = {}
        self.on_update: Callable[[Poller], None] | None = None
        api = self

        class Handler(_Handler):
            lambda_api = api

        self.server = LoopbackServer((host, port), Handler)
        self.server.log_name = "lambda"
        self.port = int(self.server.server_address[1])
        self.url = f"http://{host}:{self.port}"

    def add_mapping(self, poller: Poller) -> None:
        self.mappings[poller.uuid] = poller

    def add_function(self, pool: FunctionPool) -> None:
        self.functions[pool.spec.name] = pool

    # ------------------------------------------------------------------ operations
    def function(self, name: str) -> FunctionPool:
        """A function by name, ARN or partial ARN (`123456789012:function:name`)."""
        base = name
        if ":function:" in name:
            base = name.split(":function:", 1)[1].split(":", 1)[0]
        pool = self.functions.get(base)
        if pool is None:
            raise _not_found(f"Function not found: {name}")
        return pool

    def mapping(self, mapping_uuid: str) -> Poller:
        poller = self.mappings.get(mapping_uuid)
        if poller is None:
            raise _not_found()
        return poller

    def list_mappings(self, query: dict[str, list[str]]) -> dict[str, Any]:
        found = list(self.mappings.values())
        if "FunctionName" in query:
            arn = self.function(query["FunctionName"][0]).spec.arn
            found = [m for m in found if m.runtime.spec.arn == arn]
        if "EventSourceArn" in query:
            found = [m for m in found if m.source_arn == query["EventSourceArn"][0]]
        start = 0
        if "Marker" in query:
            try:
                start = int(base64.urlsafe_b64decode(query["Marker"][0]).decode())
            except (ValueError, binascii.Error):
                raise _invalid("Invalid Marker") from None
        limit = 100
        if "MaxItems" in query:
            try:
                limit = int(query["MaxItems"][0])
            except ValueError:
                raise _invalid("MaxItems must be a number") from None
            if not 1 <= limit <= 10000:
                raise _invalid("MaxItems must be between 1 and 10000")
        page = found[start : start + limit]
        result: dict[str, Any] = {"EventSourceMappings": [m.configuration() for m in page]}
        if start + limit < len(found):
            result["NextMarker"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return result

    def update_mapping(self, mapping_uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        poller = self.mapping(mapping_uuid)
        if not isinstance(body, dict):
            raise _invalid("the request body must be a JSON object")
        function = body.pop("FunctionName", None)
        if function is not None and self.function(str(function)) is not poller.runtime:
            raise _invalid("moving a mapping to another function is not supported locally")
        try:
            poller.update(body)
        except UpdateError as exc:
            raise _invalid(str(exc)) from exc
        if self.on_update is not None:
            self.on_update(poller)
        return poller.configuration()


class _Handler(JsonRequestHandler):
    lambda_api: LambdaApi
    server_version = "prediag-local-lambda"
    log_name = "lambda"
    max_body_bytes = MAX_PAYLOAD

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the SDK's calls are not worth a line each

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"Type": "User" if status < 500 else "Service", "Message": message}

    def _error(self, error: LambdaError) -> None:
        body = {"Type": "User" if error.status < 500 else "Service", "Message": error.message}
        body.update(error.extra)
        self.send_json(
            error.status,
            body,
            [
                ("x-amzn-ErrorType", error.error_type),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )

    def dispatch(self) -> None:
        try:
            self._route()
        except LambdaError as error:
            self._error(error)

    def _route(self) -> None:
        api = self.lambda_api
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        body = self.read_body()
        request_id = [("x-amzn-RequestId", str(uuid.uuid4()))]
        if _ESM_LIST.fullmatch(path) and self.command == "GET":
            self.send_json(200, api.list_mappings(query), request_id)
            return
        match = _ESM_ONE.fullmatch(path)
        if match and self.command == "GET":
            self.send_json(200, api.mapping(unquote(match.group(1))).configuration(), request_id)
            return
        if match and self.command == "PUT":
            self.send_json(
                202, api.update_mapping(unquote(match.group(1)), _json(body)), request_id
            )
            return
        match = _INVOKE.fullmatch(path)
        if match and self.command == "POST":
            self._invoke(api.function(unquote(match.group(1))), body)
            return
        raise LambdaError(404, "UnknownOperationException", f"{self.command} {path} is not served")

    def _invoke(self, pool: FunctionPool, body: bytes) -> None:
        kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        event = _json(body) if body.strip() else {}
        headers = [("X-Amz-Executed-Version", "$LATEST")]
        if kind == "DryRun":
            self.send_body(204, b"", headers)
            return
        if kind == "Event":
            threading.Thread(target=_invoke_async, args=(pool, event), daemon=True).start()
            self.send_body(202, b"", headers)
            return
        if kind != "RequestResponse":
            raise _invalid(f"invalid InvocationType {kind}")
        try:
            result = pool.invoke(event, wait_s=INVOKE_WAIT_S)
        except PoolBusy:
            raise LambdaError(
                429,
                "TooManyRequestsException",
                "Rate Exceeded.",
                Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
            ) from None
        except PoolClosed:
            raise LambdaError(503, "ServiceException", "the local stack is stopping") from None
        if result.ok:
            self.send_json(200, result.response, headers)
            return
        self.send_json(
            200, result.error_payload(), [*headers, ("X-Amz-Function-Error", "Unhandled")]
        )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise LambdaError(
            400, "InvalidRequestContentException", "Could not parse request body into json"
        ) from None


def _invoke_async(pool: FunctionPool, event: Any) -> None:
    try:
        result = pool.invoke(event)
    except (PoolBusy, PoolClosed) as exc:
        logs.emit("lambda", f"asynchronous invocation of {pool.spec.name} dropped: {exc}")
        return
    if not result.ok:
        logs.emit(
            "lambda",
            f"asynchronous invocation of {pool.spec.name} failed: {result.error_type}",
        )
