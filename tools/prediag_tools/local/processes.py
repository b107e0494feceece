"""Child processes of the local stack (moto, the functions' execution environments), started so
that none outlives it.

Every child runs `sandbox.py`, which asks the kernel to kill it when its parent dies
(PR_SET_PDEATHSIG on Linux, a watcher thread elsewhere) and is the leader of its own process
group, so a terminal's Ctrl-C reaches the stack only and the stack stops each child's whole group.
PR_SET_PDEATHSIG fires when the *thread* that started the child ends, not the process: children
are therefore all started from one thread that lives as long as the process (`spawn`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

SANDBOX = Path(__file__).resolve().with_name("sandbox.py")


def sandbox_argv(mode: str, *args: str) -> list[str]:
    """`python -P sandbox.py --parent <this process> MODE ARGS...` with this interpreter."""
    return [sys.executable, "-P", str(SANDBOX), "--parent", str(os.getpid()), mode, *args]


class _Spawner:
    """Runs `subprocess.Popen` on one long-lived daemon thread."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[list[str], dict[str, Any], Future[subprocess.Popen[bytes]]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((argv, kwargs, done))
        return done.result()

    def _run(self) -> None:
        while True:
            argv, kwargs, done = self._requests.get()
            try:
                done.set_result(subprocess.Popen(argv, **kwargs))  # noqa: S603 - our own argv
            except BaseException as exc:
                done.set_exception(exc)


_spawner = _Spawner()


def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child in a process group of its own, from the spawner thread."""
    kwargs.setdefault("start_new_session", True)
    return _spawner.popen(argv, **kwargs)


def signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    """Send `sig` to the child's process group (itself and anything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[Any], grace_s: float = 2.0) -> None:
    """SIGTERM the child's group, then SIGKILL it after `grace_s`; reap the child."""
    if proc.poll() is None and grace_s > 0:
        signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    signal_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
