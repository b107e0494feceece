"""What a provider failure says is scrubbed of secrets and of the owner's words."""

from __future__ import annotations

import pytest

from prediag.ai.redact import OWNER_TEXT, REDACTED, Redactor, scrub_key_like


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("Incorrect API key provided: sk-proj-AbCd********************wxyz.", "AbCd"),
        ("Incorrect API key provided: sk-fake-op*******-key.", "fake-op"),
        ("invalid x-api-key sk-ant-api03-Zx9_yW8-vU7tS6rQ5pO4nM3lK2jI1hG0", "api03"),
        ("credential AKIAIOSFODNN7EXAMPLE is not valid in this region", "AKIAIOSFODNN7EXAMPLE"),
        ("temporary key ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY was refused", "wJalrXUtnFEMI"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "eyJhbGciOiJ"),
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/eu-west-1/bedrock/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855c",
            "5d672d79c15b",
        ),
        (
            "could not fetch https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIDEXAMPLE%2F2025&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027",
            "fe5f80f77d5f",
        ),
        ('{"api_key": "abc123def", "model": "gpt-4.1"}', "abc123def"),
        ("x-amz-security-token=IQoJb3JpZ2luX2VjEHQaCWV1LXdlc3QtMSJHMEUCIQD", "IQoJb3JpZ2lu"),
        ("password=hunter2 rejected", "hunter2"),
    ],
)
def test_key_like_strings_are_scrubbed_from_failure_messages(message: str, secret: str):
    scrubbed = Redactor()(message)

    assert secret not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize(
    "message",
    [
        "Number of request tokens has exceeded your per-minute rate limit.",
        "429 rate_limit_error: Too many requests, please wait before trying again.",
        "connection error: [Errno 111] Connection refused",
        'Could not connect to the endpoint URL: "http://127.0.0.1:4566/model/amazon.nova-pro-v1'
        '%3A0/converse"',
        "a risk-free, task-based answer; max_tokens: 2048",
        "403 UnrecognizedClientException: The security token included in the request is invalid.",
    ],
)
def test_ordinary_failure_messages_are_left_as_they_are(message: str):
    assert scrub_key_like(message) == message


def test_the_credentials_in_use_are_scrubbed_verbatim_whatever_their_shape():
    redact = Redactor(secrets=["my-org-proxy-token-0001", None, "short"])

    assert redact("proxy refused my-org-proxy-token-0001 today") == "proxy refused [redacted] today"
    assert redact("a short message") == "a short message"  # too short to be a secret


def test_the_owners_words_quoted_back_by_a_provider_are_scrubbed():
    case_text = (
        "<case_data>species: dog</case_data>\n<owner_report>He ate slug pellets from "
        "Mrs Plumtree's garden at 14 Elm Road\nand has been shaking since.</owner_report>"
    )
    redact = Redactor(sent_texts=[case_text])

    quoted = redact(
        "400 invalid_request_error: could not process 'He ate slug pellets from Mrs "
        "Plumtree's garden at 14 Elm Road and has been shaking since.' (too long)"
    )

    assert "Plumtree" not in quoted and "slug pellets" not in quoted
    assert quoted == f"400 invalid_request_error: could not process {OWNER_TEXT} (too long)"


def test_short_common_phrases_shared_with_the_case_text_are_kept():
    redact = Redactor(sent_texts=["He has been vomiting since this morning, the dog is tired."])

    assert redact("the dog is tired") == "the dog is tired"  # under the run length


def test_a_scrubbed_message_is_one_line_of_at_most_300_characters():
    message = Redactor()("line one\nline two " + "x" * 400)

    assert "\n" not in message
    assert len(message) == 300 and message.endswith("…")


def test_a_traceback_is_scrubbed_line_by_line_and_keeps_its_lines():
    text = Redactor(secrets=["sk-live-0123456789"]).text(
        'Traceback:\n  File "x.py", line 1\nValueError: bad key sk-live-0123456789'
    )

    assert text.splitlines()[-1] == "ValueError: bad key [redacted]"
    assert len(text.splitlines()) == 3
