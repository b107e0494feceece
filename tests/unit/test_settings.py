"""One typed settings object read from the environment, the AI ensemble's settings included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prediag.ai.settings import AiSettings
from prediag.errors import ConfigurationError
from prediag.settings import Settings, load_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BASE_ENV = {
    "TABLE_NAME": "prediag-test",
    "URGENT_QUEUE_URL": "http://127.0.0.1:9/urgent",
    "NORMAL_QUEUE_URL": "http://127.0.0.1:9/normal",
}


def test_the_ai_settings_are_read_with_the_others_from_the_same_environment():
    env = {
        **BASE_ENV,
        "AI_PROVIDERS": "anthropic,bedrock",
        "ANTHROPIC_MODEL": "claude-haiku-4-5",
        "AI_MAX_RETRIES": "1",
        "AI_PRICE_ANTHROPIC": "1.5, 7.5",
        "ANTHROPIC_KEY_PARAMETER": "/prediag/prod/anthropic-api-key",
        "AWS_REGION": "eu-west-1",
        "UNRELATED": "ignored",
    }

    settings = load_settings(env)

    assert isinstance(settings, Settings)
    assert settings.table_name == "prediag-test"
    assert settings.ai == AiSettings.from_env(env)
    assert settings.ai.providers == ("anthropic", "bedrock")
    assert settings.ai.model_for("anthropic") == "claude-haiku-4-5"
    assert settings.ai.max_retries == 1
    assert settings.ai.prices == {"anthropic": (1.5, 7.5)}
    assert settings.ai.anthropic_key_parameter == "/prediag/prod/anthropic-api-key"
    assert settings.ai.bedrock_region == "eu-west-1"


def test_a_bare_environment_gives_the_documented_defaults():
    settings = AiSettings.from_env({})

    assert settings == AiSettings()
    assert settings.providers == ("openai", "anthropic", "bedrock")
    assert (settings.openai_model, settings.anthropic_model, settings.bedrock_model) == (
        "gpt-4.1-mini",
        "claude-sonnet-4-6",
        "amazon.nova-pro-v1:0",
    )
    assert [settings.timeout_for(p) for p in settings.providers] == [30.0, 30.0, 30.0]
    assert (settings.max_retries, settings.min_attempt_s, settings.safety_margin_ms) == (
        2,
        1.0,
        5000,
    )
    assert (settings.max_output_tokens, settings.temperature) == (2048, 0.2)
    assert settings.solo_differential_likelihood == 0.5
    assert settings.prices == {}
    assert settings.openai_key_parameter is None and settings.bedrock_region is None


def test_a_blank_variable_counts_as_unset_but_an_empty_provider_list_disables_all():
    settings = AiSettings.from_env(
        {
            "OPENAI_MODEL": "",
            "AI_MAX_RETRIES": "  ",
            "OPENAI_KEY_PARAMETER": "",
            "BEDROCK_REGION": "",
            "AWS_REGION": "",
            "AWS_DEFAULT_REGION": "ca-central-1",
            "AI_PROVIDERS": "",
        }
    )

    assert settings.openai_model == "gpt-4.1-mini"
    assert settings.max_retries == 2
    assert settings.openai_key_parameter is None
    assert settings.bedrock_region == "ca-central-1"
    assert settings.providers == ()


def test_bedrock_region_is_its_own_variable_first_then_the_functions_region():
    env = {"BEDROCK_REGION": "us-west-2", "AWS_REGION": "eu-west-1"}

    assert AiSettings.from_env(env).bedrock_region == "us-west-2"
    assert AiSettings.from_env({"AWS_REGION": "eu-west-1"}).bedrock_region == "eu-west-1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AI_PROVIDERS", "openai,gemini"),
        ("AI_MAX_RETRIES", "many"),
        ("AI_MAX_RETRIES", "11"),
        ("OPENAI_TIMEOUT_S", "0"),
        ("AI_TEMPERATURE", "1.5"),
        ("AI_PRICE_OPENAI", "2.0"),
        ("AI_PRICE_BEDROCK", "cheap,dear"),
    ],
)
def test_an_invalid_variable_is_a_configuration_error_naming_it(variable: str, value: str):
    with pytest.raises(ConfigurationError, match=rf"invalid AI settings: {variable} \(") as ai:
        AiSettings.from_env({variable: value})
    with pytest.raises(ConfigurationError, match=rf"invalid settings: {variable}$") as whole:
        load_settings({**BASE_ENV, variable: value})

    assert "input_value" not in str(ai.value)  # the reason, never the value (a secret?)
    assert str(whole.value).count(variable) == 1


def test_a_missing_required_variable_is_named_alongside_an_invalid_ai_one():
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"URGENT_QUEUE_URL": "u", "NORMAL_QUEUE_URL": "n", "AI_MAX_RETRIES": "x"})

    assert str(raised.value) == "missing or invalid settings: TABLE_NAME, AI_MAX_RETRIES"


def test_code_builds_ai_settings_by_field_name_and_refuses_unknown_fields():
    settings = AiSettings(openai_timeout_s=5, max_retries=0, bedrock_price=(1.0, 2.0))

    assert settings.timeout_for("openai") == 5 and settings.max_retries == 0
    assert settings.cost_usd("bedrock", 1_000_000, 1_000_000) == 3.0
    with pytest.raises(ValueError, match="openai_timeout"):
        AiSettings(openai_timeout=5)  # type: ignore[call-arg]


def test_every_ai_variable_the_template_wires_is_read_by_the_settings():
    wired = set(
        re.findall(
            r"^\s+((?:AI|OPENAI|ANTHROPIC|BEDROCK)_[A-Z_]+):", TEMPLATE.read_text(), re.MULTILINE
        )
    )
    read = set(AiSettings.environment({name: "x" for name in wired}))

    assert wired and wired <= read
