"""Scrubbing of what a provider failure says before it is stored or logged.

A provider's error message may quote a credential (OpenAI's "Incorrect API key provided:
sk-…"), a signed URL, or the request it refused (the owner's own words). `Redactor` removes:
- the credentials it is given, verbatim;
- anything key-like: `sk-…` / `sk-ant-…` keys, bearer tokens, AWS access key ids, `key=value`
  pairs whose name says secret (api_key, token, signature, password…), the query string of any
  URL (signed URLs carry their signature there), and long mixed letter-and-digit tokens;
- any run of words (at least MIN_OWNER_RUN_CHARS long) that appears in the text the provider
  was sent (the case message, which holds the owner's words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
OWNER_TEXT = "[owner text]"
MIN_OWNER_RUN_CHARS = 24
MIN_SECRET_CHARS = 8
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>"

_KEY_LIKE: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers: "Bearer <token>", "AWS4-HMAC-SHA256 Credential=…, Signature=…"
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=*-]+"), f"Bearer {REDACTED}"),
    (re.compile(r"(?i)\bAWS4-HMAC-SHA256\s+[^\s\"']+(?:\s*,\s*[^\s\"',]+)*"), REDACTED),
    # API keys of OpenAI and Anthropic, masked or not ("sk-proj-****abcd", "sk-ant-api03-…")
    (re.compile(r"\bsk-(ant-)?[A-Za-z0-9_*-]{3,}"), rf"sk-\1{REDACTED}"),
    # AWS access key ids (long-term AKIA…, temporary ASIA…, and the other id prefixes)
    (
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|APKA)[A-Z0-9]{12,}\b"),
        REDACTED,
    ),
    # the query string of a URL (a presigned URL's signature, credential and token live there)
    (re.compile(r"(?i)\b(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*"), rf"\1?{REDACTED}"),
    # name=value / "name": "value" pairs whose name says secret
    (
        re.compile(
            r"(?i)\b((?:x-)?api[_-]?key|access[_-]?key(?:[_-]?id)?|secret(?:[_-]?access[_-]?key)?"
            r"|(?:x-amz-)?security[_-]?token|session[_-]?token|(?:x-amz-)?signature"
            r"|(?:x-amz-)?credential|password|passwd|authorization|token)"
            r"(\"?\s*[:=]\s*\"?)(?!Bearer\s|\[redacted\])[^\s\"'&,;]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # long opaque tokens mixing letters and digits (secret keys, session tokens, signatures)
    (
        re.compile(
            r"(?<![A-Za-z0-9+/_=-])(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])"
            r"[A-Za-z0-9+/_=-]{40,}"
        ),
        REDACTED,
    ),
)


def scrub_key_like(text: str) -> str:
    """`text` with everything that looks like a credential replaced by [redacted]."""
    for pattern, replacement in _KEY_LIKE:
        text = pattern.sub(replacement, text)
    return text


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


class Redactor:
    """Scrubs secrets and the text sent to a provider out of the messages about its failure."""

    def __init__(self, secrets: Iterable[str | None] = (), sent_texts: Iterable[str] = ()) -> None:
        # longest first, so a key is never half-replaced by a shorter one it contains
        self._secrets = sorted(
            {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET_CHARS},
            key=len,
            reverse=True,
        )
        self._sent = [n for n in (_normalised(t) for t in sent_texts) if n]

    def __call__(self, message: object, limit: int = 300) -> str:
        """One line of at most `limit` characters, without secrets or sent text."""
        text = " ".join(str(message).split())
        text = self._scrub(text)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def text(self, text: str) -> str:
        """A multi-line text (a traceback) scrubbed line by line, its layout kept."""
        return "\n".join(self._scrub(line) for line in text.splitlines())

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = scrub_key_like(text)
        for sent in self._sent:
            text = _without_runs_of(text, sent)
        return text


def _without_runs_of(text: str, haystack: str) -> str:
    """`text` with every run of whole words found in `haystack` (normalised), and at least
    MIN_OWNER_RUN_CHARS long, replaced by [owner text]."""
    words = text.split(" ")
    folded = [w.casefold() for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        j = i
        # the run's outer punctuation (quotes around a quoted value) need not be in `haystack`
        while (
            j < len(words)
            and (" ".join(folded[i : j + 1]).strip(_EDGE_PUNCTUATION) or "\0") in haystack
        ):
            j += 1
        if j > i and len(" ".join(words[i:j])) >= MIN_OWNER_RUN_CHARS:
            if not out or out[-1] != OWNER_TEXT:
                out.append(OWNER_TEXT)
            i = j
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)
