"""Running a function's handler inside this process (for tests that share its environment).

The local stack runs each function in worker processes (`workers.FunctionPool`). Tests that
invoke a handler against moto with their own `os.environ` (tests/integration) use this runner
instead: an execution environment is one import of the function's handler file under a unique
module name (module-level state is per environment, as in Lambda), and an invocation uses an
idle environment or starts a new one (a cold start). The handler runs in a thread with the
configured timeout; a timed-out environment is dropped (its thread cannot be stopped).
`Invocation` is the outcome of an invocation for both runners.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from prediag_tools.local import logs
from prediag_tools.local.provision import FunctionSpec

_counter = itertools.count(1)


class LambdaContext:
    """The context object a Python handler receives."""

    def __init__(self, spec: FunctionSpec, request_id: str, deadline: float) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """The outcome of one invocation."""

    request_id: str
    response: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0
    timed_out: bool = False
    stack_trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def error_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
        }
        if self.stack_trace:
            payload["stackTrace"] = self.stack_trace
        return payload


class _Environment:
    def __init__(self, module: ModuleType, handler: Any, init_ms: float) -> None:
        self.module = module
        self.handler = handler
        self.init_ms = init_ms
        self.fresh = True


class FunctionRuntime:
    """Invokes one function's handler, in process, with Lambda's context and timeout."""

    def __init__(self, spec: FunctionSpec, *, log_name: str | None = None) -> None:
        self.spec = spec
        self.log_name = log_name or spec.short_name
        self._idle: list[_Environment] = []
        self._lock = threading.Lock()
        self._shutdown = threading.Event()
        self.invocations = 0
        self.errors = 0

    # ------------------------------------------------------------------ environments
    def _handler_file(self) -> tuple[Path, str]:
        module_path, _, attr = self.spec.handler.rpartition(".")
        if not module_path or not attr:
            raise ValueError(f"{self.spec.logical_id}: bad Handler {self.spec.handler!r}")
        return self.spec.code_dir / (module_path.replace(".", "/") + ".py"), attr

    def _new_environment(self) -> _Environment:
        started = time.perf_counter()
        path, attr = self._handler_file()
        if not path.is_file():
            raise FileNotFoundError(f"handler file {path} does not exist")
        name = f"_prediag_local_{self.spec.short_name}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        # Lambda runs with the code directory on sys.path: sibling modules import by name.
        code_dir = str(self.spec.code_dir.resolve())
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise AttributeError(f"{path} has no callable {attr}")
        return _Environment(module, handler, (time.perf_counter() - started) * 1000)

    def _acquire(self) -> _Environment | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _release(self, env: _Environment) -> None:
        with self._lock:
            self._idle.append(env)

    def _discard(self, env: _Environment | None) -> None:
        if env is not None:
            sys.modules.pop(env.module.__name__, None)

    def shutdown(self) -> None:
        """Stop waiting for running invocations: they end as failed (nothing is deleted)."""
        self._shutdown.set()

    # ------------------------------------------------------------------ invoke
    def invoke(self, event: Any, *, timeout_s: float | None = None) -> Invocation:
        """Run the handler on `event`; never raises for handler errors (see Invocation)."""
        timeout = float(timeout_s if timeout_s is not None else self.spec.timeout_s)
        request_id = str(uuid.uuid4())
        result = Invocation(request_id=request_id)
        done = threading.Event()
        holder: dict[str, Any] = {}
        started = time.monotonic()
        deadline = started + timeout
        context = LambdaContext(self.spec, request_id, deadline)
        payload = json.loads(json.dumps(event))  # the handler gets a fresh JSON document

        def run() -> None:
            env = self._acquire()
            try:
                if env is None:
                    env = self._new_environment()
                holder["env"] = env
                holder["response"] = env.handler(payload, context)
            except BaseException as exc:
                holder["error"] = exc
                holder["trace"] = traceback.format_exc()
            finally:
                done.set()

        logs.emit(self.log_name, f"START RequestId: {request_id} Version: $LATEST")
        worker = threading.Thread(target=run, name=f"{self.log_name}-{request_id[:8]}", daemon=True)
        worker.start()
        finished = False
        while not self._shutdown.is_set():
            left = deadline - time.monotonic()
            if done.wait(min(0.2, max(0.0, left))):
                finished = True
                break
            if left <= 0:
                break
        result.duration_ms = (time.monotonic() - started) * 1000
        env = holder.get("env")
        self.invocations += 1
        if not finished and self._shutdown.is_set():
            result.error_type = "Runtime.Shutdown"
            result.error_message = "the local stack stopped during the invocation"
            self._discard(env)
        elif not finished:
            result.timed_out = True
            result.error_type = "Sandbox.Timedout"
            result.error_message = (
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            )
            logs.emit(
                self.log_name,
                f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} "
                f"Task timed out after {timeout:.2f} seconds",
            )
            self._discard(env)  # the environment is reset after a timeout
        elif "error" in holder:
            exc = holder["error"]
            result.error_type = "Runtime.ImportModuleError" if env is None else type(exc).__name__
            result.error_message = str(exc)
            trace = holder["trace"].rstrip().splitlines()
            logs.emit(self.log_name, f"[ERROR] {type(exc).__name__}: {exc}")
            for line in trace:
                logs.emit(self.log_name, line)
            if env is not None:
                self._release(env)
        else:
            try:
                result.response = json.loads(json.dumps(holder.get("response")))
            except (TypeError, ValueError) as exc:
                result.error_type = "Runtime.MarshalError"
                result.error_message = f"Unable to marshal response: {exc}"
            if env is not None:
                self._release(env)
        if not result.ok:
            self.errors += 1
        logs.emit(self.log_name, f"END RequestId: {request_id}")
        init = ""
        if env is not None and env.fresh:
            init = f"\tInit Duration: {env.init_ms:.2f} ms"
            env.fresh = False
        logs.emit(
            self.log_name,
            f"REPORT RequestId: {request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {int(result.duration_ms) + 1} ms\t"
            f"Memory Size: {self.spec.memory_mb} MB{init}",
        )
        return result
