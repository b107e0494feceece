"""Per-provider deadlines, visible to the HTTP layer of the thread that calls the provider.

The ensemble gives each provider one deadline inside the function's remaining time. The
provider's worker thread enters `deadline_scope(deadline)`; the SDK transports read it with
`current_deadline()` to clip each attempt's timeout and to refuse a retry whose wait would end
past the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# An attempt is not started (and a timeout is reported as the deadline) below this margin.
EXPIRY_SLACK_S = 0.02


class DeadlineReached(Exception):
    """The provider's deadline passed before an attempt could start or finish."""


@dataclass(frozen=True)
class Deadline:
    at: float
    """time.monotonic() value after which the provider's answer is no longer awaited."""
    min_attempt_s: float = 1.0
    """A retry is worth starting only if this much time is left once its wait is over."""

    @classmethod
    def after(cls, seconds: float, *, min_attempt_s: float = 1.0) -> Deadline:
        return cls(at=time.monotonic() + seconds, min_attempt_s=min_attempt_s)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= EXPIRY_SLACK_S

    def allows_wait(self, wait_s: float) -> bool:
        """Whether sleeping `wait_s` then making one more attempt fits before the deadline."""
        return self.remaining() - max(wait_s, 0.0) >= self.min_attempt_s


_current: ContextVar[Deadline | None] = ContextVar("prediag_ai_deadline", default=None)


def current_deadline() -> Deadline | None:
    return _current.get()


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
