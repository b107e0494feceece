"""Where the pipeline's queues, tables and analysis function are, and the adapters over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prediag.errors import PrediagError
from prediag.locks import DynamoLock
from prediag.models import Lane
from prediag.queue import LaneQueues, SqsJobQueue
from prediag.repository import DynamoRepository
from prediag.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sqs.client import SQSClient


class OpsError(PrediagError):
    """An operation cannot be carried out as asked (no trigger to pause, a queue missing...)."""


@dataclass(frozen=True)
class Topology:
    table_name: str
    lanes: tuple[LaneQueues, ...]
    idempotency_table_name: str | None = None
    analyze_function_name: str | None = None
    notify_failure_queue_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        """Inside a function: the environment the template wires."""
        if not settings.urgent_dlq_url or not settings.normal_dlq_url:
            raise OpsError("URGENT_DLQ_URL and NORMAL_DLQ_URL must be set for queue operations")
        return cls(
            table_name=settings.table_name,
            lanes=(
                LaneQueues(Lane.URGENT, settings.urgent_queue_url, settings.urgent_dlq_url),
                LaneQueues(Lane.NORMAL, settings.normal_queue_url, settings.normal_dlq_url),
            ),
            idempotency_table_name=settings.idempotency_table_name,
            analyze_function_name=settings.analyze_function_name,
        )

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> Topology:
        """From a stack's Outputs (CloudFormation DescribeStacks, or the local stack's)."""
        try:
            return cls(
                table_name=str(outputs["PreDiagnosesTableName"]),
                lanes=tuple(
                    LaneQueues(lane, str(outputs[f"{name}QueueUrl"]), str(outputs[f"{name}DlqUrl"]))
                    for lane, name in ((Lane.URGENT, "Urgent"), (Lane.NORMAL, "Normal"))
                ),
                idempotency_table_name=_opt(outputs.get("IdempotencyTableName")),
                analyze_function_name=_opt(outputs.get("AnalyzeFunctionName")),
                notify_failure_queue_url=_opt(outputs.get("NotifyFailureQueueUrl")),
            )
        except KeyError as exc:
            raise OpsError(f"the stack has no output {exc.args[0]}") from exc

    def selected(self, lanes: Iterable[Lane] | None) -> tuple[LaneQueues, ...]:
        wanted = set(lanes) if lanes else {q.lane for q in self.lanes}
        return tuple(q for q in self.lanes if q.lane in wanted)


def _opt(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True)
class Adapters:
    """The adapters an operation works through, bound to one stack."""

    topology: Topology
    queue: SqsJobQueue
    repo: DynamoRepository
    lock: DynamoLock | None

    @classmethod
    def bind(cls, topology: Topology, sqs: SQSClient, dynamodb: DynamoDBClient) -> Adapters:
        table = topology.idempotency_table_name
        return cls(
            topology=topology,
            queue=SqsJobQueue(topology.lanes, sqs),
            repo=DynamoRepository(topology.table_name, dynamodb),
            lock=DynamoLock(table, dynamodb) if table else None,
        )
