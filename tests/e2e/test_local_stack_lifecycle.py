"""Starting and stopping `prediag local start`: signals stop everything and free the ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from prediag_tools.local.moto_server import port_in_use

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def _moto_pids(port: int) -> list[int]:
    """Processes running `moto.server ... -p PORT` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"moto.server" in argv and str(port).encode() in argv:
            pids.append(int(entry.name))
    return pids


def _ports(stack: RunningStack) -> tuple[int, int]:
    return int(stack.api_url.rsplit(":", 1)[1]), int(stack.endpoint_url.rsplit(":", 1)[1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_stops_api_pollers_and_moto_and_frees_ports(
    sig: signal.Signals,
    start_stack: Callable[..., RunningStack],
    stop_stack: Callable[..., int],
) -> None:
    stack = start_stack()
    api_port, moto_port = _ports(stack)
    assert port_in_use(api_port)
    assert port_in_use(moto_port)
    moto = _moto_pids(moto_port)
    assert len(moto) == 1
    code = stop_stack(stack, sig)
    assert code == 0
    assert "local stack stopped" in stack.output_text()
    deadline = time.monotonic() + 5
    while _moto_pids(moto_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _moto_pids(moto_port) == []
    assert not port_in_use(api_port)
    assert not port_in_use(moto_port)
    for port in (api_port, moto_port):  # a restarted server can listen there again at once
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()


def test_busy_api_port_fails_fast_with_a_clear_message(prediag_argv: list[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*prediag_argv, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "Address already in use" in result.stdout + result.stderr
