"""Handlers and adapters against the template's resources in moto server (127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from prediag import wiring
from prediag_tools.local import Provisioned
from tests.integration.support import Lambda, Queues, Stream, VetInbox


@pytest.fixture
def stack(provisioned: Provisioned, aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Provisioned:
    """The functions' template environment in os.environ, AI providers off, adapters rebuilt."""
    for key, value in provisioned.union_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("AI_PROVIDERS", "")
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(key, raising=False)
    wiring.reset()
    yield provisioned
    wiring.reset()


@pytest.fixture
def invoke(stack: Provisioned) -> Callable[[str], Lambda]:
    return lambda name: Lambda(stack, name)


@pytest.fixture
def queues(stack: Provisioned) -> Queues:
    return Queues(stack)


@pytest.fixture
def stream(stack: Provisioned) -> Stream:
    return Stream(stack)


@pytest.fixture
def vet_inbox(stack: Provisioned) -> VetInbox:
    return VetInbox(stack)
