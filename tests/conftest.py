"""Shared fixtures: a moto server on 127.0.0.1 and the template's resources provisioned in it.

- `moto_endpoint` (session): URL of a moto server subprocess (`moto_main`) on a free port.
- `aws_env`: AWS_ENDPOINT_URL, fake credentials and the region in os.environ for one test.
- `provisioned` (module): the template's resources created in that moto server under a Stage of
  their own ("t" + random), so test modules never share tables, queues or topics; the demo
  clinic is registered in it, as `make run` does.
"""

from __future__ import annotations

import os

# Powertools names its loggers when a module is imported: give the tests' imports the service
# name the template gives the functions, so child loggers attach to the functions' logger.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "prediag")
# ... and the metrics namespace: a module's Metrics() reads it at import, and with metrics
# disabled nothing is flushed, so after 100 values in one test process Powertools serialises
# the set by itself, which needs a namespace.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Prediag")

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from prediag_tools.local import MotoServer, Provisioned, provision
from prediag_tools.local.aws import FAKE_CREDENTIALS
from prediag_tools.local.demo_clinic import seed_demo_clinic

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server subprocess on 127.0.0.1; killed at the end of the session."""
    with MotoServer() as server:
        yield server.url


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 (and so every adapter) at the moto server, with fake credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return moto_endpoint


@pytest.fixture(scope="module")
def provisioned(moto_endpoint: str) -> Provisioned:
    """The template's resources, fresh for this test module (unique Stage)."""
    stage = "t" + secrets.token_hex(4)
    stack = provision(TEMPLATE, moto_endpoint, parameters={"Stage": stage}, region=REGION)
    seed_demo_clinic(stack)
    return stack
