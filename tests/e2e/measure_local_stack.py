"""Measure the local stack: start -> ready API, and one record's 201 -> completed -> notified.

    .venv/bin/python tests/e2e/measure_local_stack.py [--starts 3] [--records 5]

Starts `prediag local start` (the project's template, triage-only: no AI keys) as a subprocess
on free ports, as the end-to-end tests do, and prints medians. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import EVENTS_DIR, REAL_TEMPLATE, _start, stop_stack_now  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--records", type=int, default=5)
    args = parser.parse_args()

    ready: list[float] = []
    for _ in range(args.starts):
        stack = _start(REAL_TEMPLATE)
        ready.append(stack.ready_seconds)
        stop_stack_now(stack)

    stack = _start(REAL_TEMPLATE)
    completed: list[float] = []
    notified: list[float] = []
    try:
        sqs, sns = stack.aws("sqs"), stack.aws("sns")
        inbox = sqs.create_queue(QueueName="measure-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=stack.outputs["VetTopicArn"], Protocol="sqs", Endpoint=arn)
        token = stack.token("measure@example.com")
        body = json.loads((EVENTS_DIR / "request-normal.json").read_text())
        with stack.http() as http:
            for _ in range(args.records):
                body["pet"]["id"] = f"pet-{uuid.uuid4().hex[:8]}"
                t0 = time.monotonic()
                created = http.post("/pre-diagnoses", json=body, headers={"Authorization": token})
                record_id = created.json()["id"]
                while True:
                    got = http.get(f"/pre-diagnoses/{record_id}", headers={"Authorization": token})
                    if got.json()["status"] in ("completed", "failed"):
                        break
                    time.sleep(0.02)
                completed.append(time.monotonic() - t0)
                while not any(
                    record_id in m["Body"]
                    for m in sqs.receive_message(
                        QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1
                    ).get("Messages", [])
                ):
                    pass
                notified.append(time.monotonic() - t0)
    finally:
        stop_stack_now(stack)

    def show(name: str, values: list[float]) -> None:
        print(
            f"{name:<42} median {statistics.median(values):6.2f}s  "
            f"min {min(values):6.2f}s  max {max(values):6.2f}s  (n={len(values)})"
        )

    show("start -> ready API (subprocess, warm)", ready)
    show("one record: POST 201 -> completed", completed)
    show("one record: POST 201 -> vet notified (SNS)", notified)


if __name__ == "__main__":
    main()
