"""Lambda's CloudWatch metrics, published to the local (moto) CloudWatch.

As on AWS, namespace `AWS/Lambda`: per function (dimension `FunctionName`) `Invocations`,
`Errors` and `Duration`; per event source mapping (dimension `EventSourceMappingUUID`) the
event counts `PolledEventCount`, `FilteredOutEventCount`, `InvokedEventCount`,
`FailedInvokeEventCount`, `DeletedEventCount`, `DroppedEventCount` and
`OnFailureDestinationDeliveredEventCount`. Read them with `aws cloudwatch get-metric-statistics
--endpoint-url <moto>`. An invocation is counted when it starts, synchronously, so whatever it
causes (a queue message, a notification) is never seen before it is counted. The other metrics
are handed to a sender thread, which publishes what has gathered in one PutMetricData (up to
1,000 values): off the invocations' path, and one request for many values under load.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from prediag_tools.local.aws import client
from prediag_tools.local.provision import FunctionSpec
from prediag_tools.local.runtime import Invocation

NAMESPACE = "AWS/Lambda"
log = logging.getLogger("prediag.local.metrics")
MAX_DATA = 1000  # values in one PutMetricData
Datum = dict[str, Any]


class Metrics:
    """Publishes `Invocations` synchronously, the rest from a sender thread, in batches."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._cloudwatch = client("cloudwatch", endpoint_url, region, read_timeout=5)
        self.enabled = True
        self._pending: queue.SimpleQueue[list[Datum] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_gathered, name="metrics", daemon=True)
        self._sender.start()

    @staticmethod
    def _data(dimensions: dict[str, str], values: dict[str, tuple[float, str]]) -> list[Datum]:
        dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        return [
            {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit}
            for name, (value, unit) in values.items()
        ]

    def _publish(self, data: list[Datum]) -> None:
        try:
            self._cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)
        except (BotoCoreError, ClientError) as exc:  # metrics never fail an invocation
            log.debug("metrics not published: %s", exc)

    def put(self, dimensions: dict[str, str], values: dict[str, tuple[float, str]]) -> None:
        """Publish now, before returning."""
        if self.enabled and values:
            self._publish(self._data(dimensions, values))

    def put_later(self, dimensions: dict[str, str], values: dict[str, tuple[float, str]]) -> None:
        """Hand to the sender thread."""
        if self.enabled and values:
            self._pending.put(self._data(dimensions, values))

    def _send_gathered(self) -> None:
        stopping = False
        while not stopping:
            gathered = self._pending.get()
            if gathered is None:
                break
            while len(gathered) < MAX_DATA:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                gathered.extend(more)
            for start in range(0, len(gathered), MAX_DATA):
                if self.enabled:
                    self._publish(gathered[start : start + MAX_DATA])

    def close(self, timeout_s: float = 5.0) -> None:
        """Publish what is pending, then stop publishing."""
        self._pending.put(None)
        self._sender.join(timeout_s)
        self.enabled = False

    # ------------------------------------------------------------------ functions
    def invocation_started(self, spec: FunctionSpec) -> None:
        self.put({"FunctionName": spec.name}, {"Invocations": (1, "Count")})

    def invocation_ended(self, spec: FunctionSpec, result: Invocation) -> None:
        self.put_later(
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
        self.put_later({"EventSourceMappingUUID": mapping_uuid}, values)
