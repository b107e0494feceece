"""`python -m moto.server`, with DynamoDB's writes made atomic as they are on AWS, its request
routing memoized, and DynamoDB's item results written out without moto's serializer.

moto's server answers requests on several threads and its DynamoDB backend does not lock: two
concurrent conditional writes to one item may both pass their condition. On AWS a conditional
write is atomic, and the pipeline's record transitions rely on it (of concurrent writers exactly
one wins). Every item write of the backend here holds one lock for its check-and-write.

moto's server finds the backend of every request under one lock by listing its own package
folder (a `stat` per service) and then matching the host against every service's URL patterns:
about 0.6 ms of CPU per request, a quarter of a small request's, with every other request
waiting on that lock. The answer for a host never changes while the server runs, so it is
computed once per host.

moto answers DynamoDB's item operations and a stream's GetRecords through its model-driven
response serializer, which walks every attribute of every item: two fifths of an UpdateItem's
CPU, most of a GetRecords'; without it moto's CPU per case in a burst of cases fell by a third.
moto holds those results already in the wire's form, so they are written out here with
`json.dumps`: the same JSON, with timestamps and binary values converted as moto's serializer
converts them. Keys moto's serializer would leave out are left out; errors still go through it.
"""

from __future__ import annotations

import base64
import functools
import json
import runpy
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from moto import backends
from moto.core.responses import ActionResult, BaseResponse
from moto.core.serialize import TimestampSerializer
from moto.core.utils import get_service_model
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
_writes = threading.RLock()


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _writes:
            return method(*args, **kwargs)

    return locked


def atomic_dynamodb_writes() -> None:
    for name in WRITES:
        setattr(DynamoDBBackend, name, _atomic(getattr(DynamoDBBackend, name)))


def memoized_routing() -> None:
    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    resolve = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    @functools.wraps(resolve)
    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        # called under the dispatcher's lock
        if host not in found:
            found[host] = resolve(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _wire_value(value: object) -> float | str:
    if isinstance(value, datetime):
        return TimestampSerializer._timestamp_unixtimestamp(value)  # moto's own conversion
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()  # a blob (B, BS) on the JSON wire
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


JSON_1_0 = "application/x-amz-json-1.0"  # DynamoDB's and DynamoDB Streams' protocol
# the operations answered without moto's serializer, by service
DIRECT = {
    "dynamodb": frozenset(
        {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactGetItems",
            "TransactWriteItems",
        }
    ),
    "dynamodbstreams": frozenset({"GetRecords"}),
}


@functools.cache
def _output_members(service: str, action: str) -> frozenset[str]:
    """The members of an operation's output (moto's serializer drops any other key)."""
    shape = get_service_model(service).operation_model(action).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def serialized(self: BaseResponse, action_result: ActionResult) -> tuple[int, Any, Any]:
    """BaseResponse.serialized for DynamoDB and its streams: a result of one of the DIRECT
    operations written out as it is; anything else through moto's serializer."""
    service, action, result = self.boto3_service_name, self._get_action(), action_result.result
    if not isinstance(result, dict) or action not in DIRECT.get(service, ()):
        return BaseResponse.serialized(self, action_result)
    members = _output_members(service, action)
    kept = {k: v for k, v in result.items() if k in members and v is not None}
    body = json.dumps(kept, default=_wire_value)
    return 200, {"Content-Type": JSON_1_0, **self.response_headers}, body


def direct_json_results() -> None:
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        handler.serialized = serialized  # type: ignore[method-assign]


if __name__ == "__main__":
    atomic_dynamodb_writes()
    memoized_routing()
    direct_json_results()
    runpy.run_module("moto.server", run_name="__main__", alter_sys=True)
