"""A function's execution environments as worker processes, the way Lambda runs them.

`FunctionPool` runs a function's invocations in worker processes (`sandbox.py` in lambda mode),
up to `max_workers` at once (its triggers' concurrency). A worker is one execution environment:
its `os.environ` is exactly the function's environment (`lambda_environment`), it imports the
handler once (the init phase, reported as `Init Duration` on its first REPORT line), then serves
one invocation at a time. An invocation takes an idle worker, or starts one (a cold start) while
the pool is below its size, or waits for one. The pool enforces the function's timeout by
killing the worker, and a worker that crashed or timed out is replaced by a fresh one at the
next invocation, as Lambda resets an environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from prediag_tools.local import processes
from prediag_tools.local.provision import FunctionSpec
from prediag_tools.local.runtime import Invocation

INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase of an on-demand environment
RUNTIME = "python3.13"
# Environments initialise at most this many at a time, across the stack. On Lambda each
# environment has CPU of its own; here they share the machine's cores, and a burst that starts
# twenty environments on two cores would make each init take ten times as long and overrun the
# init limit above. An environment holds its slot from its start to its first message (ready,
# init error) or its exit.
_INIT_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


class PoolBusy(Exception):
    """No execution environment became free in time."""


class PoolClosed(Exception):
    """The pool was shut down."""


class Observer(Protocol):
    """Told about each invocation (the stack publishes Lambda's CloudWatch metrics)."""

    def invocation_started(self, spec: FunctionSpec) -> None: ...
    def invocation_ended(self, spec: FunctionSpec, result: Invocation) -> None: ...


def lambda_environment(
    spec: FunctionSpec, base: Mapping[str, str], *, log_stream: str
) -> dict[str, str]:
    """The environment of one execution environment: `base` (the function's template
    environment with the local endpoints and credentials) and the variables Lambda sets."""
    env = dict(base)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(processes.SANDBOX.parent),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        }
    )
    return env


def _trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Worker:
    """One execution environment: a sandbox process, its log reader and its channel reader."""

    def __init__(self, pool: FunctionPool) -> None:
        self.pool = pool
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        env = lambda_environment(pool.spec, pool.base_env, log_stream=stream)
        while not _INIT_SLOTS.acquire(timeout=0.5):
            if pool.closed:
                raise PoolClosed(pool.spec.name)
        self._init_slot = True
        try:
            read_fd, write_fd = os.pipe()
        except BaseException:
            self._free_init_slot()
            raise
        try:
            self.proc = processes.spawn(
                processes.sandbox_argv("lambda", "--channel", str(write_fd)),
                env=env,
                cwd=str(pool.spec.code_dir),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            self._free_init_slot()
            raise
        finally:
            os.close(write_fd)
        self.messages: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.ready = False
        self.init_ms: float | None = None
        self.max_memory_mb = 0
        channel = os.fdopen(read_fd, "r", encoding="utf-8")
        assert self.proc.stdout is not None
        self._log_thread = threading.Thread(
            target=self._read_logs, args=(self.proc.stdout,), daemon=True, name="worker-logs"
        )
        self._channel_thread = threading.Thread(
            target=self._read_channel, args=(channel,), daemon=True, name="worker-channel"
        )
        self._log_thread.start()
        self._channel_thread.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_logs(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.pool.log(raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    def _free_init_slot(self) -> None:
        if self._init_slot:
            self._init_slot = False
            _INIT_SLOTS.release()

    def _read_channel(self, channel: IO[str]) -> None:
        with channel:
            for line in channel:
                self._free_init_slot()  # its first message ends the init, whatever it says
                with contextlib.suppress(ValueError):
                    self.messages.put(json.loads(line))
        self._free_init_slot()
        self.messages.put({"type": "exit"})

    def next_message(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            return self.messages.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    def send(self, request: dict[str, Any]) -> bool:
        stdin = self.proc.stdin
        if stdin is None:
            return False
        try:
            stdin.write((json.dumps(request) + "\n").encode())
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def exit_status(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(2)
        code = self.proc.returncode
        if code is None:
            return "unknown"
        return f"signal: {-code}" if code < 0 else f"exit status {code}"

    def kill(self) -> None:
        processes.signal_group(self.proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.drain_logs()

    def close(self) -> None:
        """End an idle worker: closing its stdin ends its loop; kill it if it lingers."""
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            processes.signal_group(self.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self.drain_logs()

    def drain_logs(self, timeout_s: float = 2.0) -> None:
        """Wait until everything the worker wrote is logged (after it ended)."""
        self._log_thread.join(timeout_s)


class FunctionPool:
    """Runs one function's invocations in worker processes; thread-safe."""

    def __init__(
        self,
        spec: FunctionSpec,
        base_env: Mapping[str, str],
        *,
        max_workers: int = 1,
        log: Callable[[str, str], None] | None = None,
        log_name: str | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.spec = spec
        self.base_env = dict(base_env)
        self.max_workers = max(1, max_workers)
        self.log_name = log_name or spec.short_name
        self._log = log
        self.observer = observer
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._starting = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ logs
    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(self.log_name, line)

    # ------------------------------------------------------------------ workers
    def _acquire(self, wait_s: float | None) -> _Worker:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed(self.spec.name)
                while self._idle:
                    worker = self._idle.pop()  # the most recently used: the warmest
                    if worker.alive():
                        return worker
                    self._all.discard(worker)  # died while idle: not an invocation's failure
                if len(self._all) + self._starting < self.max_workers:
                    self._starting += 1
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise PoolBusy(self.spec.name)
                self._cond.wait(0.5 if remaining is None else min(0.5, remaining))
        try:
            worker = _Worker(self)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._all.add(worker)
            if self._closed:
                self._all.discard(worker)
                worker.kill()
                raise PoolClosed(self.spec.name)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed and worker.alive():
                self._idle.append(worker)
                self._cond.notify()
                return
            self._all.discard(worker)
            self._cond.notify()
        worker.kill()

    def prewarm(self, count: int = 1) -> None:
        """Start up to `count` environments now; their init runs while nothing waits for it."""
        started = []
        for _ in range(count):
            try:
                started.append(self._acquire(0))
            except (PoolBusy, PoolClosed):
                break
        for worker in started:
            self._release(worker, healthy=True)

    def shutdown(self) -> None:
        """Stop every environment at once (SIGKILL, as Lambda ends an environment); running
        invocations end with Runtime.Shutdown. Returns once their output is logged."""
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._idle = []
            self._all.clear()
            self._cond.notify_all()
        for worker in workers:
            processes.signal_group(worker.proc, signal.SIGKILL)
        for worker in workers:
            worker.kill()

    def kill_all(self) -> None:
        """SIGKILL every environment at once, waiting for none (a forced stop)."""
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._cond.notify_all()
        for worker in workers:
            processes.signal_group(worker.proc, signal.SIGKILL)

    # ------------------------------------------------------------------ invoke
    def invoke(
        self,
        event: Any,
        *,
        timeout_s: float | None = None,
        wait_s: float | None = None,
        client_context: dict[str, Any] | None = None,
    ) -> Invocation:
        """Run the handler on `event` in a worker; never raises for the function's failures.

        `wait_s` bounds the wait for a free environment (PoolBusy after it; None = no bound).
        """
        timeout = float(timeout_s if timeout_s is not None else self.spec.timeout_s)
        event = json.loads(json.dumps(event))  # the handler gets a JSON document
        worker = self._acquire(wait_s)
        request_id = str(uuid.uuid4())
        result = Invocation(request_id=request_id)
        started = time.monotonic()
        if self.observer is not None:
            self.observer.invocation_started(self.spec)
        healthy = False
        try:
            healthy = self._run(worker, request_id, event, timeout, client_context, result)
        finally:
            result.duration_ms = (time.monotonic() - started) * 1000
            self._release(worker, healthy)
            if self.observer is not None:
                self.observer.invocation_ended(self.spec, result)
        return result

    def _run(
        self,
        worker: _Worker,
        request_id: str,
        event: Any,
        timeout: float,
        client_context: dict[str, Any] | None,
        result: Invocation,
    ) -> bool:
        """One invocation on `worker`; True when the worker can serve the next one."""
        if not worker.ready:
            message = worker.next_message(INIT_TIMEOUT_S)
            if message is None or message.get("type") != "ready":
                self._init_failed(worker, request_id, message, result)
                return False
            worker.ready = True
            worker.init_ms = float(message.get("initMs", 0.0))
        sent = time.monotonic()
        deadline = time.time() + timeout
        request = {
            "id": request_id,
            "event": event,
            "deadlineMs": int(deadline * 1000),
            "traceId": _trace_id(),
            "functionArn": self.spec.arn,
            "clientContext": client_context,
        }
        if not worker.send(request):
            return self._crashed(worker, request_id, result, 0.0)
        while True:
            message = worker.next_message(deadline - time.time())
            if message is None:
                return self._timed_out(worker, request_id, timeout, result)
            if message.get("type") == "exit":
                elapsed_ms = (time.monotonic() - sent) * 1000
                return self._crashed(worker, request_id, result, elapsed_ms)
            if message.get("type") == "result" and message.get("id") == request_id:
                break
        worker.max_memory_mb = int(message.get("maxMemoryMb") or 0)
        if message.get("ok"):
            result.response = message.get("response")
        else:
            error = message.get("error") or {}
            result.error_type = str(error.get("errorType") or "Unhandled")
            result.error_message = str(error.get("errorMessage") or "")
            result.stack_trace = list(error.get("stackTrace") or [])
        return True

    def _report(self, worker: _Worker, request_id: str, duration_ms: float, status: str) -> None:
        self.log(f"END RequestId: {request_id}")
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {self.spec.memory_mb} MB\t"
            f"Max Memory Used: {worker.max_memory_mb} MB"
        )
        self.log(f"{line}\t{status}")

    def _timed_out(
        self, worker: _Worker, request_id: str, timeout: float, result: Invocation
    ) -> bool:
        worker.kill()  # the environment is reset: its threads and state are gone
        result.timed_out = True
        result.error_type = "Sandbox.Timedout"
        result.error_message = (
            f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        )
        self.log(f"{_timestamp()} {request_id} Task timed out after {timeout:.2f} seconds")
        self._report(worker, request_id, timeout * 1000, "Status: timeout")
        return False

    def _crashed(
        self, worker: _Worker, request_id: str, result: Invocation, elapsed_ms: float
    ) -> bool:
        with self._cond:
            closing = self._closed
        worker.kill()
        if closing:
            result.error_type = "Runtime.Shutdown"
            result.error_message = "the local stack stopped during the invocation"
            return False
        status = worker.exit_status()
        result.error_type = "Runtime.ExitError"
        result.error_message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
        self.log(result.error_message)
        self.log(result.error_type)
        self._report(worker, request_id, elapsed_ms, "Status: error\tError Type: Runtime.ExitError")
        return False

    def _init_failed(
        self,
        worker: _Worker,
        request_id: str,
        message: dict[str, Any] | None,
        result: Invocation,
    ) -> None:
        worker.kill()
        if message is None:
            result.error_type = "Sandbox.Timedout"
            result.error_message = f"Init phase exceeded {INIT_TIMEOUT_S:.0f} seconds"
            self.log(f"INIT_REPORT Init Duration: {INIT_TIMEOUT_S * 1000:.2f} ms\tStatus: timeout")
        elif message.get("type") == "initError":
            error = message.get("error") or {}
            result.error_type = str(error.get("errorType") or "Runtime.Unknown")
            result.error_message = str(error.get("errorMessage") or "")
            result.stack_trace = list(error.get("stackTrace") or [])
            self.log(f"INIT_REPORT Status: error\tError Type: {result.error_type}")
        else:
            with self._cond:
                closing = self._closed
            if closing:
                result.error_type = "Runtime.Shutdown"
                result.error_message = "the local stack stopped during the invocation"
                return
            result.error_type = "Runtime.ExitError"
            result.error_message = (
                f"RequestId: {request_id} Error: Runtime exited with error: {worker.exit_status()}"
            )
            self.log(result.error_message)
