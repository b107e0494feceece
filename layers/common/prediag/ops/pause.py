"""Pause and resume the analysis of lanes: the analyze function's event source mappings.

Lambda's own API (ListEventSourceMappings, UpdateEventSourceMapping), at the endpoint boto3
resolves for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from prediag.models import Contract, Lane
from prediag.ops.topology import OpsError, Topology
from prediag.queue import queue_name

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient


class EventSourceMapping(Contract):
    id: str = Field(description="The mapping's UUID")
    function_name: str
    source_arn: str
    state: str = Field(description="Enabled, Disabled, Enabling, Disabling, Updating...")
    lane: Lane | None = None


class EsmControl:
    """Lambda's event source mappings (ListEventSourceMappings, UpdateEventSourceMapping)."""

    def __init__(self, client: LambdaClient) -> None:
        self.client = client

    @staticmethod
    def _mapping(raw: Mapping[str, Any], function_name: str | None = None) -> EventSourceMapping:
        arn = str(raw.get("FunctionArn", ""))
        return EventSourceMapping(
            id=str(raw["UUID"]),
            function_name=function_name or arn.rsplit(":", 1)[-1],
            source_arn=str(raw.get("EventSourceArn", "")),
            state=str(raw.get("State", "")),
        )

    def mappings(self, function_name: str) -> list[EventSourceMapping]:
        found: list[EventSourceMapping] = []
        kwargs: dict[str, Any] = {"FunctionName": function_name}
        while True:
            res = self.client.list_event_source_mappings(**kwargs)
            found += [self._mapping(m, function_name) for m in res.get("EventSourceMappings", [])]
            marker = res.get("NextMarker")
            if not marker:
                return found
            kwargs["Marker"] = marker

    def set_enabled(self, mapping_id: str, enabled: bool) -> EventSourceMapping:
        return self._mapping(
            self.client.update_event_source_mapping(UUID=mapping_id, Enabled=enabled)
        )


def _lane_of(topology: Topology, source_arn: str) -> Lane | None:
    name = source_arn.rsplit(":", 1)[-1]
    return next((q.lane for q in topology.lanes if queue_name(q.queue_url) == name), None)


def analysis_state(
    control: EsmControl, topology: Topology, lanes: Iterable[Lane] | None = None
) -> list[EventSourceMapping]:
    """The analyze function's mappings on the (selected) lanes, with their state."""
    function = topology.analyze_function_name
    if not function:
        raise OpsError("the analyze function name is unknown (ANALYZE_FUNCTION_NAME)")
    wanted = {q.lane for q in topology.selected(lanes)}
    found = []
    for mapping in control.mappings(function):
        lane = _lane_of(topology, mapping.source_arn)
        if lane in wanted:
            found.append(mapping.model_copy(update={"lane": lane}))
    return found


def set_analysis_enabled(
    control: EsmControl,
    topology: Topology,
    enabled: bool,
    *,
    lanes: Iterable[Lane] | None = None,
    wait_s: float = 0.0,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EventSourceMapping]:
    """Pause (False) or resume (True) the analysis of the given lanes (all by default).

    The urgent lane is resumed first and paused last, so it never waits on the normal lane's
    switch. Setting a mapping to the state it is in is harmless, so concurrent pauses agree.
    With `wait_s`, waits until every mapping has settled (Enabled/Disabled). A paused lane keeps
    its jobs: nothing is received, nothing expires before the queue's retention (14 days).
    """
    chosen = analysis_state(control, topology, lanes)
    if not chosen:
        raise OpsError(f"{topology.analyze_function_name} has no trigger on the selected lanes")
    target = "Enabled" if enabled else "Disabled"
    chosen.sort(key=lambda m: (m.lane is Lane.URGENT) != enabled)
    done = [control.set_enabled(m.id, enabled).model_copy(update={"lane": m.lane}) for m in chosen]
    deadline = time.monotonic() + wait_s
    while wait_s > 0 and any(m.state != target for m in done) and time.monotonic() < deadline:
        sleep(poll_s)
        states = {m.id: m.state for m in analysis_state(control, topology, lanes)}
        done = [m.model_copy(update={"state": states.get(m.id, m.state)}) for m in done]
    return done
