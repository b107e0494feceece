"""The local stack's Lambda metrics: Invocations at once, the rest gathered, nothing lost."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from prediag_tools.local.metrics import NAMESPACE, Metrics

REGION = "eu-west-1"


def _sum(endpoint: str, name: str, dimension: tuple[str, str]) -> float:
    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": dimension[0], "Value": dimension[1]}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(float(p["Sum"]) for p in points)


def _count_requests(metrics: Metrics) -> list[int]:
    """How many values each PutMetricData of `metrics` carried."""
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["MetricData"]))

    metrics._cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.PutMetricData", count
    )
    return sizes


def test_an_invocation_is_counted_before_put_returns(moto_endpoint: str) -> None:
    metrics = Metrics(moto_endpoint, REGION)
    function = f"fn-{uuid.uuid4().hex[:8]}"
    try:
        for expected in (1, 2, 3):
            metrics.put({"FunctionName": function}, {"Invocations": (1, "Count")})
            assert _sum(moto_endpoint, "Invocations", ("FunctionName", function)) == expected
    finally:
        metrics.close()


def test_event_counts_from_many_threads_are_gathered_and_none_is_lost(moto_endpoint: str) -> None:
    metrics = Metrics(moto_endpoint, REGION)
    sizes = _count_requests(metrics)
    mapping = str(uuid.uuid4())
    threads = [
        threading.Thread(
            target=lambda: [metrics.events(mapping, PolledEventCount=2) for _ in range(100)]
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics.close()  # publishes what is still pending

    assert _sum(moto_endpoint, "PolledEventCount", ("EventSourceMappingUUID", mapping)) == 800
    assert sum(sizes) == 400  # every value published once
    assert len(sizes) < 400  # in fewer requests than values
    assert max(sizes) <= 1000


def test_nothing_is_published_after_close(moto_endpoint: str) -> None:
    metrics = Metrics(moto_endpoint, REGION)
    mapping = str(uuid.uuid4())
    metrics.events(mapping, DeletedEventCount=1)
    metrics.close()
    metrics.events(mapping, DeletedEventCount=5)
    metrics.put({"EventSourceMappingUUID": mapping}, {"DeletedEventCount": (7, "Count")})

    assert _sum(moto_endpoint, "DeletedEventCount", ("EventSourceMappingUUID", mapping)) == 1
