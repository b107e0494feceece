"""A child process of the local stack, tied to its parent's life.

Run by path, `python -P sandbox.py --parent PID MODE ...`, so that it imports nothing of the
tools and nothing from its own directory (a handler's `import app` must find the function's
code, not a sibling of this file):

- `module NAME ARGS...` runs a module as `python -m NAME ARGS...` would (the moto server);
- `lambda --channel FD` is one Lambda execution environment of one function: its environment
  is exactly what the parent gave it (the function's template environment and the variables
  Lambda sets), it imports the handler once (the init phase), then runs invocations one at a
  time, as Lambda's Python runtime does.

Whatever the mode, the child dies with its parent: on Linux the kernel sends it SIGKILL when
the parent thread that started it ends (PR_SET_PDEATHSIG), elsewhere a thread notices within
half a second that the parent is gone.

The Lambda protocol: the parent writes one JSON request per line on stdin
(`{"id", "event", "deadlineMs", "traceId"}`); the child answers on the channel descriptor, one
JSON message per line: `{"type": "ready", "initMs"}` or `{"type": "initError", "error"}` once,
then `{"type": "result", "ok", "response" | "error", "durationMs", "maxMemoryMb"}` per request.
Everything the handler prints (stdout and stderr) is the function's log stream; the child adds
Lambda's INIT_START, START, END and REPORT lines to it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import io
import json
import logging
import math
import os
import resource
import runpy
import signal
import sys
import threading
import time
import traceback
from typing import Any, TextIO

PR_SET_PDEATHSIG = 1
RUNTIME_VERSION = f"python:{sys.version_info.major}.{sys.version_info.minor}"


def die_with_parent(parent: int) -> None:
    """Arrange to end when `parent` does; exit at once if it is already gone."""
    with contextlib.suppress(AttributeError, OSError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# ---------------------------------------------------------------------- module mode
def run_module(name: str, args: list[str]) -> None:
    sys.argv = [name, *args]
    runpy.run_module(name, run_name="__main__", alter_sys=True)


# ---------------------------------------------------------------------- lambda mode
class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request.get("functionArn", "")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["id"]
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = request.get("clientContext")
        self.tenant_id = None
        self._deadline_ms = int(request["deadlineMs"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    """Gives every record the current request id, as the runtime's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _root_logging(stream: TextIO) -> _RequestIdFilter:
    """The handler Lambda's Python runtime puts on the root logger (text log format)."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    request_filter = _RequestIdFilter()
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        logging.getLogger().setLevel(level.upper())
    return request_filter


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error payload; the stack trace holds the function's frames, not the runtime's."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename != __file__ and not frame.filename.startswith("<frozen importlib")
    ]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _log_error(error: dict[str, Any]) -> None:
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines += [frame.rstrip("\n") for frame in error["stackTrace"]]
    print("\n".join(lines), flush=True)


def load_handler(spec: str) -> Any:
    """The handler function of `module.function`, with the runtime's init error types."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise _Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise _Fault("Runtime.ImportModuleError", message) from exc
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        raise _Fault("Runtime.UserCodeSyntaxError", message) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _Fault("Runtime.HandlerNotFound", message)
    return handler


class _Fault(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _max_memory_mb() -> int:
    """Peak resident memory of this environment (VmHWM: ru_maxrss counts the parent's too)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return math.ceil(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return math.ceil(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def serve_lambda(channel_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stack stops its environments itself
    channel = os.fdopen(channel_fd, "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the handler's stdin is empty, as on Lambda
    os.close(null)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)

    def send(message: dict[str, Any]) -> None:
        channel.write(json.dumps(message) + "\n")

    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    print(f"INIT_START Runtime Version: {RUNTIME_VERSION}", flush=True)
    request_filter = _root_logging(sys.stdout)
    started = time.perf_counter()
    try:
        handler = load_handler(os.environ.get("_HANDLER", "app.lambda_handler"))
    except _Fault as fault:
        error = {"errorMessage": str(fault), "errorType": fault.error_type, "stackTrace": []}
        _log_error(error)
        send({"type": "initError", "error": error})
        return
    except Exception as exc:
        error = _error(exc)
        _log_error(error)
        send({"type": "initError", "error": error})
        return
    init_ms = (time.perf_counter() - started) * 1000
    send({"type": "ready", "initMs": init_ms})
    first = True
    for line in requests:
        request = json.loads(line)
        request_id = request["id"]
        request_filter.request_id = request_id
        if request.get("traceId"):
            os.environ["_X_AMZN_TRACE_ID"] = request["traceId"]
        print(f"START RequestId: {request_id} Version: $LATEST", flush=True)
        begun = time.perf_counter()
        message: dict[str, Any] = {"type": "result", "id": request_id}
        try:
            response = handler(request["event"], LambdaContext(request))
            try:
                message["response"] = json.loads(json.dumps(response))
                message["ok"] = True
            except (TypeError, ValueError) as exc:
                error = _error(exc, "Runtime.MarshalError")
                error["errorMessage"] = f"Unable to marshal response: {exc}"
                error["stackTrace"] = []
                _log_error(error)
                message.update(ok=False, error=error)
        except Exception as exc:
            error = _error(exc)
            _log_error(error)
            message.update(ok=False, error=error)
        duration_ms = (time.perf_counter() - begun) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        memory = _max_memory_mb()
        print(f"END RequestId: {request_id}", flush=True)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {os.environ.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE', '128')} MB\t"
            f"Max Memory Used: {memory} MB"
        )
        if first:
            report += f"\tInit Duration: {init_ms:.2f} ms"
            first = False
        print(report, flush=True)
        message.update(durationMs=duration_ms, maxMemoryMb=memory)
        send(message)
    # stdin closed: the stack stopped this environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, required=True)
    sub = parser.add_subparsers(dest="mode", required=True)
    module = sub.add_parser("module")
    module.add_argument("name")
    module.add_argument("args", nargs=argparse.REMAINDER)
    lam = sub.add_parser("lambda")
    lam.add_argument("--channel", type=int, required=True)
    args = parser.parse_args()
    die_with_parent(args.parent)
    if args.mode == "module":
        run_module(args.name, args.args)
    else:
        serve_lambda(args.channel)


if __name__ == "__main__":
    main()
