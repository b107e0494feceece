"""Lambda's CloudWatch metrics, published to the local (moto) CloudWatch.

As on AWS, namespace `AWS/Lambda`: per function (dimension `FunctionName`) `Invocations`,
`Errors` and `Duration`; per event source mapping (dimension `EventSourceMappingUUID`) the
event counts `PolledEventCount`, `FilteredOutEventCount`, `InvokedEventCount`,
`FailedInvokeEventCount`, `DeletedEventCount`, `DroppedEventCount` and
`OnFailureDestinationDeliveredEventCount`. Read them with `aws cloudwatch get-metric-statistics
--endpoint-url <moto>`. An invocation is counted when it starts, so whatever it causes (a queue
message, a notification) is never seen before it is counted.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prediag_tools.local.aws import client
from prediag_tools.local.provision import FunctionSpec
from prediag_tools.local.runtime import Invocation

NAMESPACE = "AWS/Lambda"
log = logging.getLogger("prediag.local.metrics")


class Metrics:
    """Publishes the metrics synchronously (moto on loopback answers in a few milliseconds)."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._cloudwatch = client("cloudwatch", endpoint_url, region, read_timeout=5)
        self.enabled = True

    def put(self, dimensions: dict[str, str], values: dict[str, tuple[float, str]]) -> None:
        if not self.enabled or not values:
            return
        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        data: list[dict[str, Any]] = [
            {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit}
            for name, (value, unit) in values.items()
        ]
        try:
            self._cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)
        except (BotoCoreError, ClientError) as exc:  # metrics never fail an invocation
            log.debug("metrics not published: %s", exc)

    # ------------------------------------------------------------------ functions
    def invocation_started(self, spec: FunctionSpec) -> None:
        self.put({"FunctionName": spec.name}, {"Invocations": (1, "Count")})

    def invocation_ended(self, spec: FunctionSpec, result: Invocation) -> None:
        self.put(
            {"FunctionName": spec.name},
            {
                "Errors": (0 if result.ok else 1, "Count"),
                "Duration": (result.duration_ms, "Milliseconds"),
            },
        )

    # ------------------------------------------------------------------ event source mappings
    def events(self, mapping_uuid: str, **counts: int) -> None:
        """Event counts of one mapping, e.g. events(uuid, FilteredOutEventCount=2)."""
        values = {name: (float(n), "Count") for name, n in counts.items() if n}
        self.put({"EventSourceMappingUUID": mapping_uuid}, values)
