"""Pipeline rows of the benchmark: cases through the local stack's HTTP API, timed end to end.

A case's latency is from just before its POST to the moment the analyze function wrote it
`completed` (the record's `updatedAt`, read back through the API: same machine, same clock), so
the polling interval does not show in the figures.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from tests.bench.localstack import ROOT, BenchStack, settle

EVENT = json.loads((ROOT / "events" / "request-normal.json").read_text())
TERMINAL = ("completed", "failed")
SUBMIT_PARALLEL = 10
MAX_POLL_ERRORS = 20


@dataclass
class Case:
    id: str
    posted_at: float
    done_at: float | None = None
    status: str = "pending"
    attempts: int = 0

    @property
    def latency(self) -> float:
        assert self.done_at is not None
        return self.done_at - self.posted_at


@dataclass
class Burst:
    n: int
    latency_s: float
    capacity: int
    cases: list[Case] = field(default_factory=list)

    @property
    def done(self) -> list[Case]:
        return [c for c in self.cases if c.done_at is not None]

    @property
    def makespan(self) -> float:
        """First POST to last completion; infinite when a case did not finish."""
        if len(self.done) < len(self.cases):
            return math.inf
        return max(c.latency + c.posted_at for c in self.done) - min(
            c.posted_at for c in self.cases
        )

    @property
    def ideal(self) -> float:
        return math.ceil(self.n / self.capacity) * self.latency_s

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if c.status != "completed")

    @property
    def repeated(self) -> int:
        """Cases analysed more than once (the fake providers never fail, so one attempt each)."""
        return sum(1 for c in self.cases if c.attempts > 1)

    def quantile(self, q: float) -> float:
        """Latency quantile; a case that did not finish counts as infinitely late."""
        values = sorted(c.latency if c.done_at is not None else math.inf for c in self.cases)
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]


def _new_user() -> str:
    return f"bench-{uuid.uuid4().hex[:8]}@example.com"


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


class Driver:
    """Submits cases as one owner and watches them through the API."""

    def __init__(self, stack: BenchStack, latency_s: float, user: str | None = None) -> None:
        self.stack = stack
        self.latency_s = latency_s
        self.token = stack.token(user or _new_user())
        self.poll_errors: list[str] = []
        self.stuck: list[str] = []
        self.http = httpx.Client(
            base_url=stack.api_url,
            timeout=60,
            headers={"Authorization": self.token},
            limits=httpx.Limits(max_connections=SUBMIT_PARALLEL * 2),
        )

    def close(self) -> None:
        self.http.close()

    def new_owner(self) -> None:
        """Submit from now on as a user of its own: the per-owner quota keeps a log of each
        owner's submissions of the last hour, and an owner with hundreds of them in it (the
        bench lifts the quota) would make every POST heavier than a real owner's."""
        self.token = self.stack.token(_new_user())
        self.http.headers["Authorization"] = self.token

    def post(self) -> Case:
        body = {**EVENT, "pet": {**EVENT["pet"], "id": f"pet-{uuid.uuid4().hex[:10]}"}}
        posted = time.time()
        response = self.http.post("/pre-diagnoses", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST /pre-diagnoses: {response.status_code} {response.text}")
        accepted = response.json()
        if accepted.get("lane") != "normal":
            raise RuntimeError(f"the bench case took the {accepted.get('lane')} lane, not normal")
        return Case(accepted["id"], posted)

    def record(self, case_id: str) -> dict[str, Any]:
        response = self.http.get(f"/pre-diagnoses/{case_id}")
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        return record

    def wait_one(self, case: Case, timeout_s: float, interval_s: float = 0.05) -> Case:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self.http.get(f"/pre-diagnoses/{case.id}")
            if response.status_code >= 500:
                self.poll_errors.append(f"{response.status_code} {response.text[:200]}")
                if len(self.poll_errors) > MAX_POLL_ERRORS:
                    response.raise_for_status()
                time.sleep(interval_s)
                continue
            response.raise_for_status()
            record = response.json()
            if record["status"] in TERMINAL:
                case.status, case.done_at = record["status"], _timestamp(record["updatedAt"])
                return case
            time.sleep(interval_s)
        raise TimeoutError(f"case {case.id} not done within {timeout_s:.0f}s")

    def wait_all(self, cases: Sequence[Case], timeout_s: float, interval_s: float = 0.5) -> None:
        """Wait until every case is terminal, reading their status and `updatedAt` from the
        stack's record table (BatchGetItem, those two attributes) on its moto endpoint.

        Polling through the API would cost the stack far more than the cases being measured
        (the owner's list is a Query that moto answers by copying every record of the table), so
        the watcher reads the table as an operator's script would. No case can finish before L,
        so the first read is after L."""
        pending = {c.id: c for c in cases}
        deadline = time.monotonic() + timeout_s
        time.sleep(self.latency_s)
        while pending and time.monotonic() < deadline:
            ids = list(pending)
            for start in range(0, len(ids), 100):
                keys = [{"id": {"S": case_id}} for case_id in ids[start : start + 100]]
                found = self.stack.read_records(keys, ["id", "status", "updatedAt", "attempts"])
                for item in found:
                    case = pending.get(item["id"]["S"])
                    if case is not None and item["status"]["S"] in TERMINAL:
                        case.status = item["status"]["S"]
                        case.attempts = len(item.get("attempts", {}).get("L", []))
                        case.done_at = _timestamp(item["updatedAt"]["S"])
                        del pending[case.id]
            if pending:
                time.sleep(interval_s)
        for case in pending.values():
            record = self.http.get(f"/pre-diagnoses/{case.id}")
            state = record.json().get("status") if record.status_code == 200 else record.status_code
            case.status = f"not done in {timeout_s:.0f}s ({state})"
            self.stuck.append(f"{case.id}: {case.status}")

    def submit_many(self, n: int) -> list[Case]:
        with ThreadPoolExecutor(SUBMIT_PARALLEL) as pool:
            return list(pool.map(lambda _: self.post(), range(n)))

    def check_ensemble(self, case: Case) -> None:
        """Stop the bench if the analysis did not run the three (fake) providers."""
        analysis = self.record(case.id).get("analysis") or {}
        if analysis.get("method") != "ensemble" or analysis.get("degraded"):
            raise RuntimeError(
                "the analysis did not run the three providers "
                f"(method={analysis.get('method')}, missing={analysis.get('missingProviders')}): "
                "are the fake providers reachable?"
            )

    # ------------------------------------------------------------------ rows
    def one_case(self, timeout_s: float) -> Case:
        return self.wait_one(self.post(), timeout_s)

    def burst(self, n: int, latency_s: float, capacity: int, timeout_s: float) -> Burst:
        burst = Burst(n, latency_s, capacity, self.submit_many(n))
        self.wait_all(burst.cases, timeout_s)
        return burst

    def closed_loop(self, n: int, latency_s: float, timeout_s: float) -> Burst:
        """n cases one after the other: the next is posted when the previous is done."""
        burst = Burst(n, latency_s, 1)
        for _ in range(n):
            burst.cases.append(self.one_case(timeout_s))
        return burst


# ---------------------------------------------------------------------- CPU per case
def idle_cpu_rate(stack: BenchStack, seconds: float = 2.0) -> float:
    """CPU seconds per second the stack spends doing nothing (pollers, moto)."""
    before, t0 = stack.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (stack.cpu_seconds() - before) / (time.monotonic() - t0)


def cpu_per_case(stack: BenchStack, run: Callable[[], Burst]) -> tuple[Burst, float]:
    """Run a burst and return the stack's CPU seconds per case (submit + analyze + notify, moto
    included), net of what the idle stack uses over the same wall time."""
    rate = idle_cpu_rate(stack)
    before, t0 = stack.cpu_seconds(), time.monotonic()
    burst = run()
    settle(stack)
    used = stack.cpu_seconds() - before - rate * (time.monotonic() - t0)
    return burst, max(used, 0.0) / burst.n


# ---------------------------------------------------------------------- submit vs raw calls
def submit_overhead(driver: Driver, samples: int = 20) -> tuple[float, float]:
    """Median warm handler time of submit (its REPORT lines) and median time of one PutItem +
    one SendMessage from this process to the same moto, in seconds.

    The normal lane is paused first (`prediag pause`) so nothing else runs; call this last on a
    stack.
    """
    stack = driver.stack
    stack.pause_normal_lane()
    settle(stack, quiet_s=0.5)
    mark = stack.line_count()
    for _ in range(samples + 3):
        driver.post()
    time.sleep(0.3)
    warm = [r for r in stack.reports(mark) if r.function == "submit" and not r.cold][3:]
    handler = [r.duration_ms / 1000 for r in warm]

    ddb, sqs = stack.client("dynamodb"), stack.client("sqs")
    table = f"bench-probe-{uuid.uuid4().hex[:6]}"
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName=table)["QueueUrl"]
    payload = json.dumps(EVENT)
    raw: list[float] = []
    for i in range(samples + 3):
        item_id = uuid.uuid4().hex
        t0 = time.perf_counter()
        ddb.put_item(
            TableName=table,
            Item={"id": {"S": item_id}, "status": {"S": "pending"}, "request": {"S": payload}},
            ConditionExpression="attribute_not_exists(id)",
        )
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"preDiagnosisId": item_id}))
        if i >= 3:
            raw.append(time.perf_counter() - t0)
    if not handler:
        return float("nan"), statistics.median(raw)
    return statistics.median(handler), statistics.median(raw)
