"""End-to-end fixtures: `prediag local start` in a subprocess, reached only over HTTP and AWS APIs.

`start_stack(template)` launches the CLI on free ports and waits for its ready line; the
returned `RunningStack` gives the URLs, the stack's outputs (read back from moto), its output
lines, and helpers to mint tokens, read queues and records, drive the event source mappings
through Lambda's API, read Lambda's CloudWatch metrics and wait for conditions.
`start_on_fake_bedrock(fakes)` runs the real template with the fake Bedrock of tests/fakes (the
`fakes` fixture) as its only provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from prediag.items import record_from_item
from prediag.models import PreDiagnosis, Status
from prediag_tools.local import free_port, provision
from prediag_tools.local.cognito import mint_id_token
from prediag_tools.local.esm import mapping_uuid
from prediag_tools.local.stack import identity_of
from tests.fakes import Behaviour, FakeSet, start_fakes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
REAL_TEMPLATE = ROOT / "template.yaml"
EVENTS_DIR = ROOT / "events"
PREDIAG = ROOT / ".venv" / "bin" / "prediag"
READY = "prediag local stack ready"
REGION = "us-east-1"


def wait_for[T](check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {check.__name__}")
        time.sleep(interval)


@dataclass
class RunningStack:
    proc: subprocess.Popen[str]
    api_url: str
    endpoint_url: str
    lambda_url: str
    template: Path
    stage: str
    ready_seconds: float
    lines: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    _provisioned: Any = None

    def aws(self, service: str) -> Any:
        """A boto3 client of the stack: moto, or the stack's own Lambda API for "lambda"."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.lambda_url if service == "lambda" else self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def function_name(self, short: str) -> str:
        return str(self._provisioned.function(short).name)

    def cli_env(self) -> dict[str, str]:
        """The environment a `prediag` command needs to reach this stack's Lambda API."""
        return {**os.environ, "NO_COLOR": "1", "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url}

    def token(self, email: str, groups: list[str] | None = None, clinic: str | None = None) -> str:
        return mint_id_token(identity_of(self._provisioned), email, groups=groups, clinic_id=clinic)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=30)

    def output_text(self) -> str:
        return "\n".join(self.lines)

    @property
    def ports(self) -> tuple[int, int, int]:
        """(API, moto, Lambda) ports."""
        return tuple(  # type: ignore[return-value]
            int(url.rsplit(":", 1)[1]) for url in (self.api_url, self.endpoint_url, self.lambda_url)
        )

    def descendants(self) -> list[int]:
        """Pids of every live process the stack started, at any depth (read from /proc)."""
        return descendants(self.proc.pid)

    def drain(self, queue_url: str, wait: int = 1) -> list[Any]:
        """Receive (and delete) what a queue holds now; JSON bodies parsed, others as text."""
        sqs = self.aws("sqs")
        found: list[Any] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            ).get("Messages", [])
            if not got:
                return found
            for message in got:
                try:
                    found.append(json.loads(message["Body"]))
                except ValueError:
                    found.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait = 0

    @staticmethod
    def wait_for[T](check: Callable[[], T | None], timeout: float = 20.0) -> T:
        return wait_for(check, timeout)

    def mapping_uuid(self, name: str) -> str:
        """The UUID of an event source mapping named by its event (`Work`, `NormalLane`)."""
        p = self._provisioned
        for mapping in [*p.sqs_mappings, *p.stream_mappings]:
            if mapping.name.endswith(f".{name}"):
                return mapping_uuid(p.functions[mapping.function].arn, name)
        raise KeyError(name)

    def mapping(self, name: str) -> dict[str, Any]:
        """GetEventSourceMapping of the mapping named by its event."""
        found: dict[str, Any] = self.aws("lambda").get_event_source_mapping(
            UUID=self.mapping_uuid(name)
        )
        return found

    def esm(self, name: str, action: str) -> dict[str, Any]:
        """Enable or disable a mapping (UpdateEventSourceMapping), then wait until it settles."""
        enabled = action == "enable"
        self.aws("lambda").update_event_source_mapping(
            UUID=self.mapping_uuid(name), Enabled=enabled
        )
        wanted = "Enabled" if enabled else "Disabled"
        return wait_for(lambda: (m := self.mapping(name))["State"] == wanted and m, 10)

    def metric(self, name: str, **dimensions: str) -> float:
        """The sum of one of Lambda's CloudWatch metrics (AWS/Lambda) since the stack started."""
        now = time.time()
        stats = self.aws("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=name,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - 3600,
            EndTime=now + 60,
            Period=60,
            Statistics=["Sum"],
        )
        return float(sum(p["Sum"] for p in stats["Datapoints"]))

    def invocations(self, function: str) -> float:
        """Lambda's Invocations metric of one function (short name, e.g. "analyze")."""
        return self.metric("Invocations", FunctionName=self.function_name(function))

    def record(self, record_id: str) -> PreDiagnosis:
        """A pre-diagnosis as its table holds it now (consistent read)."""
        item = self.aws("dynamodb").get_item(
            TableName=self.outputs["PreDiagnosesTableName"],
            Key={"id": {"S": record_id}},
            ConsistentRead=True,
        )["Item"]
        return record_from_item(item)

    def until_status(self, record_id: str, status: Status, timeout: float) -> None:
        """Wait until a pre-diagnosis has `status`; fail the test after `timeout` seconds."""

        def reached() -> bool:
            return self.record(record_id).status is status

        reached.__name__ = f"{record_id} is {status.value}"
        wait_for(reached, timeout)


def _start(
    template: Path,
    *extra: str,
    stage: str = "local",
    ports: tuple[int, int, int] | None = None,
    shell_prefix: tuple[str, ...] = (),
    **popen: Any,
) -> RunningStack:
    """`prediag local start` on `ports` (API, moto, Lambda; free ones by default), run through
    `shell_prefix` when given (e.g. a shell that changes signal dispositions, then execs)."""
    api_port, moto_port, lambda_port = ports or (free_port(), free_port(), free_port())
    argv = [
        str(PREDIAG), "local", "start",
        "--port", str(api_port), "--moto-port", str(moto_port), "--lambda-port", str(lambda_port),
        "--template", str(template), "--stage", stage, "--no-demo-tokens", "--no-demo-record",
        *extra,
    ]  # fmt: skip
    argv = [*shell_prefix, *argv]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    for key in [k for k in env if k.startswith(("OPENAI_", "ANTHROPIC_"))]:
        env.pop(key)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        **popen,
    )
    lines: list[str] = []
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                ready.set()
        ready.set()

    threading.Thread(target=reader, daemon=True).start()
    if not ready.wait(60) or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("local stack did not start:\n" + "\n".join(lines[-40:]))
    stack = RunningStack(
        proc=proc,
        api_url=f"http://127.0.0.1:{api_port}",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        lambda_url=f"http://127.0.0.1:{lambda_port}",
        template=template,
        stage=stage,
        ready_seconds=time.monotonic() - started,
        lines=lines,
    )
    # provisioning is idempotent: it reads back the running stack's resources and outputs
    stack._provisioned = provision(template, stack.endpoint_url, {"Stage": stage}, region=REGION)
    stack.outputs = stack._provisioned.outputs
    return stack


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0]


def alive(pid: int) -> bool:
    """A process exists and is not a zombie (a zombie holds no port and no memory)."""
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[1] not in "ZX":
            parents.setdefault(stat[0], []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def stop_stack_now(stack: RunningStack, sig: int = signal.SIGINT) -> int:
    if stack.proc.poll() is None:
        stack.proc.send_signal(sig)
        try:
            return stack.proc.wait(20)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
            stack.proc.wait(5)
            pytest.fail("local stack did not stop within 20s of the signal")
    return stack.proc.returncode


@pytest.fixture(scope="module")
def fixture_stack() -> Iterator[RunningStack]:
    """The fixture topology (tests/e2e/fixtures/template.yaml) running locally."""
    stack = _start(FIXTURE_TEMPLATE)
    try:
        yield stack
    finally:
        stop_stack_now(stack)
        sys.stdout.write(f"\n[local stack ready in {stack.ready_seconds:.2f}s]\n")


@pytest.fixture
def start_stack() -> Iterator[Callable[..., RunningStack]]:
    """Factory for a stack of the test's own (fixture template by default); stopped after it."""
    started: list[RunningStack] = []

    def factory(template: Path = FIXTURE_TEMPLATE, *extra: str, **options: Any) -> RunningStack:
        stack = _start(template, *extra, **options)
        started.append(stack)
        return stack

    yield factory
    for stack in started:
        stop_stack_now(stack)


@pytest.fixture
def stop_stack() -> Callable[..., int]:
    return stop_stack_now


@pytest.fixture
def prediag_argv() -> list[str]:
    """`prediag local start` on the fixture template with a free moto port (add --port)."""
    return [
        str(PREDIAG), "local", "start", "--moto-port", str(free_port()),
        "--template", str(FIXTURE_TEMPLATE), "--no-demo-tokens",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def real_stack() -> Iterator[RunningStack]:
    """The project's own template.yaml running locally (triage-only: no AI keys passed)."""
    stack = _start(REAL_TEMPLATE)
    try:
        yield stack
    finally:
        stop_stack_now(stack)
        sys.stdout.write(f"\n[local stack (template.yaml) ready in {stack.ready_seconds:.2f}s]\n")


# ---------------------------------------------------------------------- the fake Bedrock
@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeSet]:
    """The fake AI provider servers of tests/fakes, for one test module."""
    with start_fakes() as started:
        yield started


@pytest.fixture
def healthy_provider(fakes: FakeSet) -> Iterator[None]:
    """The fake Bedrock answers normally during the test, and again after it."""
    fakes.bedrock.set_default(Behaviour("ok"))
    yield
    fakes.bedrock.set_default(Behaviour("ok"))


def start_on_fake_bedrock(fakes: FakeSet, *extra: str) -> RunningStack:
    """The real template with Bedrock, the fake one, as the only provider (`extra`: more
    `prediag local start` arguments)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fakes.bedrock.url)
        return _start(REAL_TEMPLATE, "--param", "AiProviders=bedrock", *extra)
