"""`python -m moto.server`, with DynamoDB's writes made atomic as they are on AWS, and its
request routing memoized.

moto's server answers requests on several threads and its DynamoDB backend does not lock: two
concurrent conditional writes to one item may both pass their condition. On AWS a conditional
write is atomic, and the pipeline's record transitions rely on it (of concurrent writers exactly
one wins). Every item write of the backend here holds one lock for its check-and-write.

moto's server finds the backend of every request under one lock by listing its own package
folder (a `stat` per service) and then matching the host against every service's URL patterns:
about 0.6 ms of CPU per request, a quarter of a small request's, with every other request
waiting on that lock. The answer for a host never changes while the server runs, so it is
computed once per host.
"""

from __future__ import annotations

import functools
import runpy
import threading
from collections.abc import Callable
from typing import Any

from moto import backends
from moto.dynamodb.models import DynamoDBBackend
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


if __name__ == "__main__":
    atomic_dynamodb_writes()
    memoized_routing()
    runpy.run_module("moto.server", run_name="__main__", alter_sys=True)
