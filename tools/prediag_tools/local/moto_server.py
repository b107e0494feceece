"""The moto server as a child process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Self

from prediag_tools.local import processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until_up(
    url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until moto answers (any HTTP status counts as up)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"moto server exited with code {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"moto server at {url} did not answer within {timeout_s}s: {last}")


class MotoServer:
    """moto's server (`moto_main`: DynamoDB writes atomic) on 127.0.0.1:PORT as a child process;
    a context manager.

    The child dies with this process however it ends (see `processes`), so a crashed stack
    never leaves a moto server holding its port.
    """

    def __init__(self, port: int | None = None, *, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> Self:
        if port_in_use(self.port):
            raise RuntimeError(
                f"port {self.port} is already in use on 127.0.0.1 (another moto or local stack?)"
            )
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
            out = self._log
        argv = processes.sandbox_argv(
            "module", "prediag_tools.local.moto_main", "-H", "127.0.0.1", "-p", str(self.port)
        )
        env = {**os.environ, "MOTO_PORT": str(self.port)}
        self.proc = processes.spawn(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env)
        try:
            wait_until_up(self.url, timeout_s, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 0.0) -> None:
        """End the server (its state is in memory only: SIGKILL at once unless `timeout_s`)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            processes.stop(proc, timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the server's process group without waiting."""
        if self.proc is not None:
            processes.signal_group(self.proc, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
