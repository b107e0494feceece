"""What a provider failure records: its cause, named from the SDK's exception chain."""

from __future__ import annotations

import socket
from itertools import pairwise

import botocore.exceptions
import httpx2
import urllib3.exceptions

from prediag.ai.providers.base import (
    RETRYABLE,
    ProviderFailure,
    exception_chain,
    root_message,
    transport_cause,
)
from prediag.models import ProviderOutcome


def _chained(*exceptions: BaseException) -> BaseException:
    """The first exception, raised from the second, raised from the third..."""
    for outer, inner in pairwise(exceptions):
        outer.__cause__ = inner
    return exceptions[0]


def test_transport_causes_are_named_the_same_for_every_sdk():
    refused = _chained(
        httpx2.ConnectError("[Errno 111] Connection refused"), ConnectionRefusedError(111, "no")
    )
    dns = _chained(httpx2.ConnectError("[Errno -2] Name or service not known"), socket.gaierror())
    connect_timeout = _chained(httpx2.ConnectTimeout("timed out"), TimeoutError())
    read_timeout = _chained(httpx2.ReadTimeout("timed out"), TimeoutError())
    closed = httpx2.RemoteProtocolError("Server disconnected without sending a response.")

    assert transport_cause(refused) == "ConnectionRefused"
    assert transport_cause(dns) == "NameResolutionError"
    assert transport_cause(connect_timeout) == "ConnectTimeout"
    assert transport_cause(read_timeout) == "ReadTimeout"
    assert transport_cause(closed) == "ConnectionClosed"
    assert transport_cause(_chained(ValueError("odd"), KeyError("deep"))) == "KeyError"


def test_botocore_wraps_its_cause_in_kwargs_and_it_is_still_found():
    new_connection = urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    _chained(new_connection, ConnectionRefusedError(111, "Connection refused"))
    endpoint = botocore.exceptions.EndpointConnectionError(
        endpoint_url="http://127.0.0.1:1/model/m/converse", error=new_connection
    )
    read = botocore.exceptions.ReadTimeoutError(endpoint_url="http://127.0.0.1:1/x", error="x")
    connect = botocore.exceptions.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1/x")

    assert new_connection in exception_chain(endpoint)
    assert transport_cause(endpoint) == "ConnectionRefused"
    assert "Connection refused" in root_message(endpoint)
    assert transport_cause(read) == "ReadTimeout"
    assert transport_cause(connect) == "ConnectTimeout"


def test_a_connection_error_is_its_own_kind_and_another_attempt_may_fix_it():
    failure = ProviderFailure(
        "connection_error", "connection error: refused", error_code="ConnectionRefused", retries=2
    )

    assert failure.retryable and "connection_error" in RETRYABLE
    assert (failure.status_code, failure.error_code, failure.retries) == (
        None,
        "ConnectionRefused",
        2,
    )


def test_an_outcome_carries_the_cause_on_the_wire_and_omits_what_it_does_not_know():
    outcome = ProviderOutcome(
        provider="anthropic",
        model="claude-sonnet-4-6",
        outcome="rate_limited",
        error="429 rate_limit_error: slow down",
        status_code=429,
        error_code="rate_limit_error",
        retries=2,
    )
    unknown = ProviderOutcome(provider="openai", model="m", outcome="connection_error")

    assert outcome.dump() | {"latencyMs": 0} == {
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "outcome": "rate_limited",
        "latencyMs": 0,
        "inputTokens": 0,
        "outputTokens": 0,
        "costUsd": 0.0,
        "error": "429 rate_limit_error: slow down",
        "statusCode": 429,
        "errorCode": "rate_limit_error",
        "retries": 2,
    }
    assert ProviderOutcome.model_validate(outcome.dump()) == outcome
    assert "statusCode" not in unknown.dump() and "retries" not in unknown.dump()
