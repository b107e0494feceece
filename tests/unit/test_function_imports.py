"""What each function's module loads at cold start, in a fresh interpreter as Lambda does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import importlib.util, json, logging, sys
sys.path.insert(0, {code_dir!r})
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({{
    "sdks": sorted(m for m in ("openai", "anthropic") if m in sys.modules),
    "botocore_level": logging.getLogger("botocore").getEffectiveLevel(),
    "modules": sorted(sys.modules),
}}))
"""
ENV = {
    "TABLE_NAME": "t",
    "IDEMPOTENCY_TABLE_NAME": "i",
    "URGENT_QUEUE_URL": "http://127.0.0.1:9/u",
    "NORMAL_QUEUE_URL": "http://127.0.0.1:9/n",
    "VET_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:v",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
    "AI_PROVIDERS": "openai,anthropic,bedrock",
    # this checkout's shared package, whatever the virtualenv's editable install points at
    "PYTHONPATH": str(ROOT / "layers" / "common"),
}


def _load(function: str) -> dict[str, object]:
    code_dir = ROOT / "functions" / function
    script = PROBE.format(code_dir=str(code_dir), app=str(code_dir / "app.py"))
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("function", ["submit", "notify"])
def test_api_and_notify_functions_never_import_the_ai_sdks(function: str):
    assert _load(function)["sdks"] == []


def test_analyze_imports_the_enabled_sdks_at_init_not_in_the_first_record():
    assert _load("analyze")["sdks"] == ["anthropic", "openai"]


@pytest.mark.parametrize("function", ["submit", "analyze", "notify"])
def test_aws_clients_never_log_bodies_even_at_debug(function: str):
    assert _load(function)["botocore_level"] >= 30  # WARNING


def test_the_api_function_loads_no_module_it_only_needs_for_the_document_or_the_analysis():
    modules = _load("submit")["modules"]
    assert isinstance(modules, list)
    # the OpenAPI models: only the document needs them (app.security_schemes)
    assert "aws_lambda_powertools.event_handler.openapi.models" not in modules
    # the settings read prediag.ai.settings; the ensemble and its providers are analyze's
    assert "prediag.ai.settings" in modules
    assert not [m for m in modules if m.startswith("prediag.ai.") and m != "prediag.ai.settings"]
    # the vet notifier is the notify function's
    assert "prediag.notifier" not in modules
    # the rule table is read from its parse (rules.json), not with the TOML parser
    assert "prediag.triage.rules" in modules
    assert "tomllib" not in modules
