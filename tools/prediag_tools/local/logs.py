"""Function logs in one terminal, each line prefixed by the function that wrote it.

All functions share one process locally, so `sys.stdout`/`sys.stderr` are replaced by a stream
that looks up which function the writing thread works for (a thread-local set around each
invocation, inherited by threads that invocation starts) and prefixes each complete line with a
coloured `[name]`, as `sam local` does. Writes from other threads pass through unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_COLOURS = ["36", "35", "33", "32", "34", "91", "96", "95"]
_state = threading.local()
_lock = threading.RLock()
_installed: dict[str, Any] = {}
_colour_of: dict[str, str] = {}


def _use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def current_owner() -> str | None:
    owner = getattr(_state, "owner", None)
    if owner is None:
        owner = getattr(threading.current_thread(), "_prediag_log_owner", None)
    return owner


def prefix_for(name: str, stream: TextIO) -> str:
    with _lock:
        colour = _colour_of.setdefault(name, _COLOURS[len(_colour_of) % len(_COLOURS)])
    if _use_colour(stream):
        return f"\x1b[{colour}m[{name}]\x1b[0m "
    return f"[{name}] "


class RoutingStream:
    """A text stream that prefixes lines written on behalf of a function."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._partial = threading.local()

    # file-like API used by print(), logging.StreamHandler and friends
    def write(self, text: str) -> int:
        owner = current_owner()
        if owner is None:
            with _lock:
                written = self.target.write(text)
                self.target.flush()
            return written
        buffered = getattr(self._partial, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._partial.text = rest
        if lines:
            prefix = prefix_for(owner, self.target)
            with _lock:
                self.target.write("".join(f"{prefix}{line}\n" for line in lines))
                self.target.flush()
        return len(text)

    def flush(self) -> None:
        with _lock:
            self.target.flush()

    def isatty(self) -> bool:
        try:
            return self.target.isatty()
        except (AttributeError, ValueError):
            return False

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


def install() -> None:
    """Route sys.stdout/sys.stderr through prefixing streams (idempotent)."""
    with _lock:
        if _installed:
            return
        _installed["stdout"] = sys.stdout
        _installed["stderr"] = sys.stderr
        sys.stdout = RoutingStream(sys.stdout)
        sys.stderr = RoutingStream(sys.stderr)
        original_start = threading.Thread.start

        def start(self: threading.Thread) -> None:
            # a thread started during an invocation logs on behalf of the same function
            owner = current_owner()
            if owner is not None and not hasattr(self, "_prediag_log_owner"):
                self._prediag_log_owner = owner  # type: ignore[attr-defined]
            original_start(self)

        _installed["thread_start"] = original_start
        threading.Thread.start = start  # type: ignore[method-assign]


def uninstall() -> None:
    with _lock:
        if not _installed:
            return
        sys.stdout = _installed.pop("stdout")
        sys.stderr = _installed.pop("stderr")
        threading.Thread.start = _installed.pop("thread_start")  # type: ignore[method-assign]


@contextmanager
def owner(name: str | None) -> Iterator[None]:
    """Lines this thread writes inside the block are prefixed with `[name]`."""
    previous = getattr(_state, "owner", None)
    _state.owner = name
    try:
        yield
    finally:
        _state.owner = previous
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, RoutingStream):
                rest = getattr(stream._partial, "text", "")
                if rest:
                    stream._partial.text = ""
                    if name is not None:
                        stream.target.write(f"{prefix_for(name, stream.target)}{rest}\n")
                        stream.target.flush()


def emit(name: str, line: str, *, stderr: bool = False) -> None:
    """Write one line prefixed with `[name]` (START/END/REPORT lines, poller notes)."""
    stream = sys.stderr if stderr else sys.stdout
    target = stream.target if isinstance(stream, RoutingStream) else stream
    with _lock:
        target.write(f"{prefix_for(name, target)}{line}\n")
        target.flush()
