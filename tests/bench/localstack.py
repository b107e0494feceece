"""The local stack as the benchmark drives it: `prediag local start` in a subprocess on free
ports, with the fake AI providers (started here, at latency L) reached through the SDKs'
standard variables, and only its public interfaces used afterwards: the HTTP API, the
`prediag` CLI, the moto endpoint, and the lines it prints (Lambda's REPORT lines).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
PREDIAG = ROOT / ".venv" / "bin" / "prediag"
READY = "prediag local stack ready"
REGION = "us-east-1"
STAGE = "bench"
REPORT_LINE = re.compile(
    r"\[(?P<fn>[A-Za-z0-9_-]+)[^\]]*\].*REPORT RequestId: \S+\s+Duration: (?P<ms>[0-9.]+) ms"
    r"(?P<rest>.*)$"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Report:
    """One REPORT line of a function: its handler's duration, and whether it was a cold start."""

    function: str
    duration_ms: float
    cold: bool


@dataclass
class BenchStack:
    proc: subprocess.Popen[str]
    api_url: str
    endpoint_url: str
    params: dict[str, str]
    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client of the stack's moto endpoint (one per service)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=REGION,
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
        return self._clients[service]

    # ------------------------------------------------------------------ public interfaces
    def token(self, user: str) -> str:
        """An ID token from `prediag local token` (the CLI), for this stack's user pool."""
        argv = [
            str(PREDIAG), "local", "token", "--user", user, "--endpoint", self.endpoint_url,
            "--stage", STAGE,
        ]  # fmt: skip
        out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"prediag local token failed: {out.stderr.strip()}")
        return out.stdout.strip().splitlines()[-1]

    def pause_normal_lane(self) -> None:
        """`prediag pause --lane normal`: the normal lane's trigger stops taking messages."""
        argv = [
            str(PREDIAG), "pause", "--lane", "normal", "--endpoint", self.endpoint_url,
            "--stage", STAGE,
        ]  # fmt: skip
        out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"prediag pause failed: {out.stderr.strip() or out.stdout}")

    def read_records(
        self, keys: list[dict[str, Any]], attributes: list[str]
    ) -> list[dict[str, Any]]:
        """Those attributes of the record table's items (BatchGetItem on the moto endpoint)."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        request = {
            f"prediag-{STAGE}-pre-diagnoses": {
                "Keys": keys,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        found: list[dict[str, Any]] = []
        while request:
            response = self.client("dynamodb").batch_get_item(RequestItems=request)
            for items in response["Responses"].values():
                found.extend(items)
            request = response.get("UnprocessedKeys") or {}
        return found

    def reports(self, since: int = 0) -> list[Report]:
        """The REPORT lines printed since line number `since`."""
        with self._lock:
            lines = self.lines[since:]
        found = []
        for line in lines:
            match = REPORT_LINE.search(line)
            if match:
                found.append(
                    Report(
                        match["fn"], float(match["ms"]), "Init Duration" in (match["rest"] or "")
                    )
                )
        return found

    def line_count(self) -> int:
        with self._lock:
            return len(self.lines)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the stack's process tree has used so far: the CLI, moto,
        and any worker processes, including children that have exited."""
        return process_tree_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_stack(params: Mapping[str, str], ai_env: Mapping[str, str]) -> BenchStack:
    api_port, moto_port, lambda_port = free_port(), free_port(), free_port()
    argv = [
        str(PREDIAG), "local", "start", "--port", str(api_port), "--moto-port", str(moto_port),
        "--lambda-port", str(lambda_port), "--stage", STAGE, "--region", REGION,
        "--no-demo-tokens",
        *(f"--param={k}={v}" for k, v in params.items()),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **ai_env})
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    stack = BenchStack(
        proc=proc,
        api_url=f"http://127.0.0.1:{api_port}",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        params=dict(params),
    )
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with stack._lock:
                stack.lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                ready.set()
        ready.set()

    threading.Thread(target=reader, daemon=True).start()
    if not ready.wait(120) or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("local stack did not start:\n" + "\n".join(stack.lines[-40:]))
    return stack


# ---------------------------------------------------------------------- CPU of a process tree
def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, utime + stime + cutime + cstime in clock ticks), from /proc."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17
        stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    return stats


def process_tree_cpu(root: int) -> float:
    if not Path("/proc/self/stat").exists():
        return float("nan")
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def settle(stack: BenchStack, quiet_s: float = 1.0, timeout_s: float = 15.0) -> None:
    """Wait until the stack has printed nothing for `quiet_s` (its triggers are idle)."""
    deadline = time.monotonic() + timeout_s
    last, since = stack.line_count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = stack.line_count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
