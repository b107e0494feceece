"""`python -m moto.server`, with DynamoDB's writes made atomic as they are on AWS.

moto's server answers requests on several threads and its DynamoDB backend does not lock: two
concurrent conditional writes to one item may both pass their condition. On AWS a conditional
write is atomic, and the pipeline's record transitions rely on it (of concurrent writers exactly
one wins). Every item write of the backend here holds one lock for its check-and-write.
"""

from __future__ import annotations

import functools
import runpy
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

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


if __name__ == "__main__":
    atomic_dynamodb_writes()
    runpy.run_module("moto.server", run_name="__main__", alter_sys=True)
