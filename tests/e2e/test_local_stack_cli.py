"""`prediag local invoke` (sam local invoke without Docker) and `prediag local token`."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PREDIAG = str(ROOT / ".venv" / "bin" / "prediag")
FIXTURE_TEMPLATE = str(Path(__file__).resolve().parent / "fixtures" / "template.yaml")


def _run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PREDIAG, "local", *args], capture_output=True, text=True, timeout=timeout, check=False
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
