"""Execution environments on the local stack, as Lambda runs them: each function in processes
of its own, with exactly its environment; a real init phase; a timeout or a crash ends the
environment and the next invocation gets a fresh one. Checked on the fixture topology, through
the API and Lambda's Invoke API (boto3)."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from prediag_tools.local import workers
from prediag_tools.local.provision import FunctionSpec
from tests.e2e.conftest import alive

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

# What Lambda sets in every execution environment (plus the endpoints, credentials and
# settings the local stack gives every function, and LC_CTYPE, which Python itself adds when
# the machine has no en_US.UTF-8 locale).
LAMBDA_SET = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "LANG", "TZ", "PATH", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
}  # fmt: skip
LOCAL_SET = {
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "POWERTOOLS_TRACE_DISABLED", "LC_CTYPE",
}  # fmt: skip
GLOBALS = {"ITEMS_TABLE", "WORK_QUEUE_URL", "AUDIT_QUEUE_URL", "IS_LOCAL"}


def _probe(stack: RunningStack, function: str) -> dict[str, Any]:
    """What an execution environment of `function` is, asked through Lambda's Invoke API."""
    answer = stack.aws("lambda").invoke(
        FunctionName=stack.function_name(function), Payload=json.dumps({"probe": "env"})
    )
    assert "FunctionError" not in answer
    found: dict[str, Any] = json.loads(answer["Payload"].read())
    return found


@pytest.mark.parametrize(
    ("function", "own"),
    [("api", {"PUBLIC_URL"}), ("notify", {"TOPIC_ARN"}), ("worker", set())],
)
def test_each_function_runs_with_exactly_its_template_environment(
    fixture_stack: RunningStack, function: str, own: set[str]
) -> None:
    probe = _probe(fixture_stack, function)
    env = probe["env"]
    assert set(env) - LAMBDA_SET - LOCAL_SET == GLOBALS | own  # no other function's, no host's
    name = fixture_stack.function_name(function)
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"].endswith(f"fixtures/functions/{function}")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["AWS_ENDPOINT_URL"] == fixture_stack.endpoint_url
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == fixture_stack.lambda_url
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    if function == "api":
        assert probe["modules"] == ["app"]  # the handler module under its own name, alone


def test_the_environments_of_different_functions_are_different_processes(
    fixture_stack: RunningStack,
) -> None:
    pids = {f: _probe(fixture_stack, f)["pid"] for f in ("api", "notify", "worker")}
    assert len(set(pids.values())) == 3
    assert fixture_stack.proc.pid not in pids.values()


def _slow(stack: RunningStack, query: str) -> Any:
    with stack.http() as http:
        return http.get(f"/slow?{query}")


def _lines(stack: RunningStack, prefix: str) -> list[str]:
    return [line for line in list(stack.lines) if line.startswith(prefix)]


def test_a_handler_past_its_timeout_is_stopped_and_the_next_invocation_runs_fresh(
    fixture_stack: RunningStack,
) -> None:
    warm = _slow(fixture_stack, "seconds=0").json()
    inits = len(_lines(fixture_stack, "[slow] INIT_START"))
    started = time.monotonic()
    timed_out = _slow(fixture_stack, "seconds=3")  # its timeout is 1 s
    elapsed = time.monotonic() - started
    assert timed_out.status_code == 502
    assert timed_out.json() == {"message": "Internal server error"}
    assert 1.0 <= elapsed < 2.5  # the answer comes at the timeout, not when the handler is done
    # the environment (process) that ran it is gone: its handler cannot go on running
    fixture_stack.wait_for(lambda: not alive(warm["pid"]), 5)
    fixture_stack.wait_for(
        lambda: any(
            "Task timed out after 1.00 seconds" in x for x in _lines(fixture_stack, "[slow]")
        )
    )
    assert any(
        "Status: timeout" in line for line in _lines(fixture_stack, "[slow] REPORT RequestId:")
    )

    fresh = _slow(fixture_stack, "seconds=0").json()

    assert fresh["pid"] != warm["pid"]
    assert fresh["invocations"] == 1  # module state starts over: a new init phase
    assert len(_lines(fixture_stack, "[slow] INIT_START")) == inits + 1
    report = _lines(fixture_stack, "[slow] REPORT RequestId:")[-1]
    assert "Init Duration:" in report
    assert "Max Memory Used:" in report


def test_a_crashed_environment_is_replaced_by_a_fresh_one(fixture_stack: RunningStack) -> None:
    before = _slow(fixture_stack, "seconds=0").json()
    crashed = _slow(fixture_stack, "exit=3")
    assert crashed.status_code == 502
    fixture_stack.wait_for(
        lambda: any(
            "Runtime exited with error: exit status 3" in line
            for line in _lines(fixture_stack, "[slow]")
        )
    )
    after = _slow(fixture_stack, "seconds=0").json()
    assert after["pid"] != before["pid"]
    assert after["invocations"] == 1


def test_a_warm_environment_keeps_its_module_state_between_invocations(
    fixture_stack: RunningStack,
) -> None:
    first = _slow(fixture_stack, "seconds=0").json()
    second = _slow(fixture_stack, "seconds=0").json()
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1


def test_invoke_api_reports_a_function_error_as_lambda_does(fixture_stack: RunningStack) -> None:
    event = {"Records": [{"messageId": "m-1", "body": json.dumps({"crash": True})}]}
    answer = fixture_stack.aws("lambda").invoke(
        FunctionName=fixture_stack.function_name("worker"), Payload=json.dumps(event)
    )
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "crash requested by the message"
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert not any("sandbox.py" in frame for frame in error["stackTrace"])


# ---------------------------------------------------------------------- inits a few at a time
INIT_PROBE = """
import os, time
_start = time.time()
time.sleep(0.4)
with open(os.environ["INIT_LOG"], "a") as log:
    log.write(f"{_start} {time.time()}\\n")


def handler(event, context):
    return {"pid": os.getpid()}
"""


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize(("slots", "bounded"), [(2, True), (6, False)])
def test_a_burst_of_cold_starts_initialises_a_few_environments_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slots: int, bounded: bool
) -> None:
    """Six invocations at once start six environments; with two init slots no more than two
    inits overlap, and every invocation still succeeds (with six, they all overlap: the
    measure can see an unbounded start)."""
    (tmp_path / "app.py").write_text(INIT_PROBE)
    log = tmp_path / "inits.log"
    monkeypatch.setattr(workers, "_INIT_SLOTS", threading.BoundedSemaphore(slots))
    spec = FunctionSpec("ProbeFunction", "probe", "arn:probe", tmp_path, "app.handler", 10, 128, {})
    pool = workers.FunctionPool(spec, {**os.environ, "INIT_LOG": str(log)}, max_workers=6)
    try:
        with ThreadPoolExecutor(6) as run:
            results = list(run.map(lambda _: pool.invoke({}), range(6)))
    finally:
        pool.shutdown()
    assert all(r.ok for r in results), [r.error_message for r in results]
    assert len({r.response["pid"] for r in results}) == 6  # six environments, each cold
    intervals = [
        (float(a), float(b)) for a, b in (line.split() for line in log.read_text().splitlines())
    ]
    assert len(intervals) == 6
    if bounded:
        assert _most_at_once(intervals) <= 2
    else:
        assert _most_at_once(intervals) > 2
