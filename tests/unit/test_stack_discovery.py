"""How the `prediag` commands find their stack (.local/stacks records), and how the lanes'
analysis state is read, without a stack."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prediag import ops
from prediag.models import Lane
from prediag.queue import LaneQueues
from prediag_tools import stacks


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stacks, "STATE_DIR", tmp_path)
    return tmp_path


def _record(api: int, moto: int, stage: str = "local") -> Path:
    return stacks.record(
        api_url=f"http://127.0.0.1:{api}",
        endpoint_url=f"http://127.0.0.1:{moto}",
        stage=stage,
        region="us-east-1",
        outputs={"PreDiagnosesTableName": f"prediag-{stage}-pre-diagnoses", "Nested": {"x": 1}},
    )


def test_the_only_running_stack_is_found_without_any_option(state_dir: Path) -> None:
    path = _record(3100, 5105)

    found = stacks.find()

    assert (found.api_url, found.endpoint_url, found.stage) == (
        "http://127.0.0.1:3100",
        "http://127.0.0.1:5105",
        "local",
    )
    assert found.outputs == {"PreDiagnosesTableName": "prediag-local-pre-diagnoses"}
    assert path.name == "api-3100.json"


def test_a_port_or_url_picks_one_of_several_stacks_and_its_api_moves_with_it(
    state_dir: Path,
) -> None:
    _record(3000, 5005)
    _record(5400, 5405, stage="other")

    assert stacks.find(endpoint=":5405").api_url == "http://127.0.0.1:5400"
    assert stacks.find(api="http://127.0.0.1:3000/").endpoint_url == "http://127.0.0.1:5005"
    with pytest.raises(stacks.StackNotFound, match="several local stacks"):
        stacks.find()
    with pytest.raises(stacks.StackNotFound, match=r"no stack with moto http://127\.0\.0\.1:9 "):
        stacks.find(endpoint="9")
    with pytest.raises(stacks.StackNotFound, match="no stack with stage 'typo'"):
        stacks.find(endpoint=":5405", stage="typo")


def test_no_stack_running_is_said_in_one_line(state_dir: Path) -> None:
    with pytest.raises(stacks.StackNotFound) as raised:
        stacks.find()
    assert str(raised.value).startswith("no stack")
    assert "\n" not in str(raised.value)


def test_the_record_of_a_stopped_stack_is_ignored_and_removed(state_dir: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = _record(3000, 5005)
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {gone.pid}'))

    assert stacks.running() == []
    assert not path.exists()


def test_a_stack_forgets_only_its_own_record(state_dir: Path) -> None:
    path = _record(3000, 5005)
    stacks.forget(path)
    assert not path.exists()


# ---------------------------------------------------------------------- analysis state
class _Lambda:
    """Lambda's ListEventSourceMappings, as its API answers it."""

    def __init__(self, mappings: list[dict[str, Any]] | None, error: Exception | None = None):
        self.mappings = mappings or []
        self.error = error

    def list_event_source_mappings(self, **_: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"EventSourceMappings": self.mappings}


TOPOLOGY = ops.Topology(
    table_name="t",
    lanes=(
        LaneQueues(Lane.URGENT, "http://sqs/123/prediag-x-urgent", "http://sqs/123/u-dlq"),
        LaneQueues(Lane.NORMAL, "http://sqs/123/prediag-x-normal", "http://sqs/123/n-dlq"),
    ),
    analyze_function_name="prediag-x-analyze",
)


def _stats() -> ops.QueueStats:
    lane = {"waiting": 0, "active": 0, "delayed": 0, "retrying": 0, "dead": 0}
    return ops.QueueStats.model_validate(
        {
            "at": "2025-01-01T00:00:00Z",
            "lanes": [{"lane": "urgent", **lane}, {"lane": "normal", **lane}],
            **{k: 0 for k in ("waiting", "active", "delayed", "dead")},
            **{k: 0 for k in ("pending", "processing", "completed", "failed", "refused")},
            "retryingExact": True,
        }
    )


def test_each_lane_says_whether_its_analysis_is_paused() -> None:
    mappings = [
        {"UUID": "u", "EventSourceArn": "arn:aws:sqs:r:123:prediag-x-urgent", "State": "Enabled"},
        {"UUID": "n", "EventSourceArn": "arn:aws:sqs:r:123:prediag-x-normal", "State": "Disabled"},
    ]
    control = ops.EsmControl(_Lambda(mappings))  # type: ignore[arg-type]

    stats = ops.with_analysis_state(_stats(), control, TOPOLOGY)

    assert [(s.lane.value, s.analysis, s.paused) for s in stats.lanes] == [
        ("urgent", "Enabled", False),
        ("normal", "Disabled", True),
    ]
    assert stats.analysis_error is None


def test_when_lambda_cannot_be_read_the_counts_stand_and_the_state_is_unknown() -> None:
    from botocore.exceptions import EndpointConnectionError

    control = ops.EsmControl(_Lambda(None, EndpointConnectionError(endpoint_url="http://x")))  # type: ignore[arg-type]
    stats = ops.with_analysis_state(_stats(), control, TOPOLOGY)

    assert [s.analysis for s in stats.lanes] == [None, None]
    assert stats.analysis_error and "http://x" in stats.analysis_error


def test_lanes_without_a_trigger_say_so() -> None:
    stats = ops.with_analysis_state(_stats(), ops.EsmControl(_Lambda([])), TOPOLOGY)  # type: ignore[arg-type]

    assert [s.analysis for s in stats.lanes] == [None, None]
    assert stats.analysis_error == "prediag-x-analyze has no trigger on the lanes urgent, normal"
