"""`prediag local invoke` (sam local invoke without Docker) and `prediag local token`."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import REAL_TEMPLATE

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREDIAG = str(ROOT / ".venv" / "bin" / "prediag")
FIXTURE_TEMPLATE = str(Path(__file__).resolve().parent / "fixtures" / "template.yaml")


EVENTS = ROOT / "events"
DEMO_ID = "3f2c9b1e-5d4a-4c1b-9a7e-1b2c3d4e5f60"  # the record every sample event names


def _run(
    *args: str, timeout: int = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PREDIAG, "local", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=ROOT,
    )


def _event(tmp_path: Path, payload: dict[str, Any]) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return str(path)


def test_invoke_fresh_prints_the_handler_response_as_json(tmp_path: Path) -> None:
    event = {
        "Records": [
            {"messageId": "m-bad", "body": "not json", "attributes": {}},
            {"messageId": "m-flag", "body": json.dumps({"fail": True}), "attributes": {}},
        ]
    }
    result = _run(
        "invoke", "worker", "-e", _event(tmp_path, event), "--fresh", "-t", FIXTURE_TEMPLATE
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "batchItemFailures": [{"itemIdentifier": "m-bad"}, {"itemIdentifier": "m-flag"}]
    }
    assert "[worker] START RequestId:" in result.stderr
    assert "[worker] REPORT RequestId:" in result.stderr


def test_invoke_against_running_stack_sees_its_data(
    tmp_path: Path, fixture_stack: RunningStack
) -> None:
    item_id = f"inv-{uuid.uuid4().hex[:6]}"
    fixture_stack.aws("dynamodb").put_item(
        TableName=fixture_stack.outputs["ItemsTable"],
        Item={"id": {"S": item_id}, "status": {"S": "completed"}},
    )
    event = {
        "resource": "/items/{id}",
        "httpMethod": "GET",
        "path": f"/items/{item_id}",
        "pathParameters": {"id": item_id},
    }
    result = _run(
        "invoke", "api", "-e", _event(tmp_path, event),
        "--endpoint", fixture_stack.endpoint_url, "-t", FIXTURE_TEMPLATE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"id": item_id, "status": "completed"}


def test_invoke_timeout_exits_nonzero_with_lambda_error(tmp_path: Path) -> None:
    result = _run("invoke", "slow", "-e", _event(tmp_path, {}), "--fresh", "-t", FIXTURE_TEMPLATE)
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]


def test_invoke_unknown_function_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("invoke", "nope", "-e", _event(tmp_path, {}), "--fresh", "-t", FIXTURE_TEMPLATE)
    assert result.returncode == 2
    assert "no function 'nope'" in result.stdout + result.stderr


def test_token_command_mints_a_token_the_api_accepts(fixture_stack: RunningStack) -> None:
    result = _run(
        "token", "--user", "cli-vet@example.com", "--group", "vets", "--clinic", "c-9",
        "--endpoint", fixture_stack.endpoint_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["cognito:groups"] == ["vets"]
    assert claims["custom:clinic_id"] == "c-9"
    assert claims["token_use"] == "id"
    with fixture_stack.http() as http:
        created = http.post("/items", json={}, headers={"Authorization": token})
    assert created.status_code == 201
    assert created.json()["claims"]["cognito:groups"] == "vets"


def test_every_sample_event_gives_its_expected_result_on_a_fresh_stack(
    start_stack: Callable[..., RunningStack],
) -> None:
    """`make run` seeds the demo record; the sample events chain on it: read it pending,
    analyse it, read it completed, list it, and the rest."""
    stack = start_stack(REAL_TEMPLATE, "--demo-record")

    def invoke(function: str, event: str) -> Any:
        done = _run(
            "invoke", function, "-e", str(EVENTS / event),
            "--endpoint", stack.endpoint_url, "--lambda-endpoint", stack.lambda_url,
            "--api-url", stack.api_url,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"[{function}] REPORT RequestId:" in done.stderr
        assert "has no record" not in done.stderr
        return json.loads(done.stdout)

    def body(response: Any) -> Any:
        return json.loads(response["body"])

    read = invoke("submit", "api-get-pre-diagnosis.json")
    assert read["statusCode"] == 200
    assert (body(read)["id"], body(read)["status"]) == (DEMO_ID, "pending")

    assert invoke("analyze", "sqs-analyze-batch.json") == {"batchItemFailures": []}

    read = invoke("submit", "api-get-pre-diagnosis.json")
    assert (read["statusCode"], body(read)["status"]) == (200, "completed")
    listed = invoke("submit", "api-list-pre-diagnoses.json")
    assert DEMO_ID in [item["id"] for item in body(listed)["items"]]
    queues = invoke("submit", "api-admin-queues.json")
    assert [lane["lane"] for lane in body(queues)["lanes"]] == ["urgent", "normal"]
    created = invoke("submit", "api-post-pre-diagnosis.json")
    assert created["statusCode"] == 201
    for event in ("stream-insert-red-flag.json", "stream-modify-completed.json"):
        assert invoke("notify", event) == {"batchItemFailures": []}


def test_local_esm_pauses_and_resumes_a_mapping_through_the_lambda_api(
    fixture_stack: RunningStack,
) -> None:
    lam = ["--endpoint", fixture_stack.lambda_url]
    uuid_ = fixture_stack.mapping_uuid("Work")
    listed = _run("esm", "list", "--json", *lam)
    assert listed.returncode == 0, listed.stderr
    assert uuid_ in [m["UUID"] for m in json.loads(listed.stdout)]
    paused = _run("esm", "disable", "Work", "--json", *lam)
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout)[0]["State"] in ("Disabling", "Disabled")
    fixture_stack.wait_for(lambda: fixture_stack.mapping("Work")["State"] == "Disabled")
    resumed = _run("esm", "enable", uuid_, *lam)
    assert resumed.returncode == 0, resumed.stderr
    assert "Enabl" in resumed.stdout
    fixture_stack.wait_for(lambda: fixture_stack.mapping("Work")["State"] == "Enabled")
    unknown = _run("esm", "disable", "Nope", *lam)
    assert unknown.returncode == 2
