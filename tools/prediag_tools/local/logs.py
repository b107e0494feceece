"""Log lines in one terminal, each prefixed by who wrote it, as `sam local` does.

The functions run in worker processes whose output the stack reads line by line; the stack
writes each line prefixed with a coloured `[name]` (`submit`, `analyze`, `notify`, `api`,
`esm`...). Lines are written whole, under one lock, so concurrent writers never interleave.
A terminal that went away (EIO, EPIPE) must not stop the stack: such write errors are ignored.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TextIO

_COLOURS = ["36", "35", "33", "32", "34", "91", "96", "95"]
_lock = threading.RLock()
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


def prefix_for(name: str, stream: TextIO) -> str:
    with _lock:
        colour = _colour_of.setdefault(name, _COLOURS[len(_colour_of) % len(_COLOURS)])
    if _use_colour(stream):
        return f"\x1b[{colour}m[{name}]\x1b[0m "
    return f"[{name}] "


def emit(name: str, line: str, *, stream: TextIO | None = None) -> None:
    """Write one line prefixed with `[name]` (to stdout unless `stream` is given)."""
    target = stream if stream is not None else sys.stdout
    with _lock, contextlib.suppress(OSError, ValueError):
        target.write(f"{prefix_for(name, target)}{line}\n")
        target.flush()


def to_stderr(name: str, line: str) -> None:
    """`emit` to stderr (for commands whose stdout carries a result)."""
    emit(name, line, stream=sys.stderr)
