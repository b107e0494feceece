"""Starting and stopping `prediag local start`: signals stop everything and free the ports;
nothing outlives the stack, not even when it is killed; a start after a crash gets its ports."""

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
from tests.e2e.conftest import FIXTURE_TEMPLATE, alive, wait_for

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


def _moto_pids(port: int) -> list[int]:
    """Processes running the moto server (`prediag_tools.local.moto_main ... -p PORT`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"prediag_tools.local.moto_main" in argv and str(port).encode() in argv:
            pids.append(int(entry.name))
    return pids


def _ports(stack: RunningStack) -> tuple[int, int]:
    return int(stack.api_url.rsplit(":", 1)[1]), int(stack.endpoint_url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["sigint", "sigterm", "sighup"]
)
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
    children = wait_for(lambda: len(stack.descendants()) >= 2 and stack.descendants(), 15)
    started = time.monotonic()
    code = stop_stack(stack, sig)
    print(f"\n[{signal.Signals(sig).name}: stopped in {time.monotonic() - started:.2f}s]")
    assert code == 0
    assert "local stack stopped" in stack.output_text()
    assert [pid for pid in children if alive(pid)] == []
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


def _children(stack: RunningStack, at_least: int) -> list[int]:
    """The stack's processes once moto and at least `at_least - 1` environments run."""
    return wait_for(lambda: len(found := stack.descendants()) >= at_least and found, 20)


def test_sigkill_leaves_no_process_of_the_stack_and_the_next_start_gets_its_ports(
    start_stack: Callable[..., RunningStack],
) -> None:
    """A hard stop (SIGKILL of the main process, or a terminal that went away) cannot run any
    cleanup: moto and every execution environment must end with it all the same."""
    stack = start_stack()
    with stack.http() as http:
        assert http.get("/echo/x").status_code == 200
    children = _children(stack, 5)  # moto + one environment per function (4)
    ports = stack.ports
    stack.proc.kill()
    stack.proc.wait(10)
    killed = time.monotonic()
    while [pid for pid in children if alive(pid)] and time.monotonic() - killed < 5:
        time.sleep(0.05)
    left = [pid for pid in children if alive(pid)]
    print(
        f"\n[{len(children)} child processes gone {time.monotonic() - killed:.2f}s after SIGKILL]"
    )
    assert left == []
    again = start_stack(FIXTURE_TEMPLATE, ports=ports)  # same API, moto and Lambda ports
    assert again.ports == ports
    with again.http() as http:
        assert http.get("/echo/again").status_code == 200
    assert again.aws("lambda").list_event_source_mappings()["EventSourceMappings"]


def test_sigint_stops_a_stack_started_with_sigint_ignored(
    start_stack: Callable[..., RunningStack], stop_stack: Callable[..., int]
) -> None:
    """A background job of a script starts with SIGINT ignored (and Python then installs no
    KeyboardInterrupt handler): the stack installs its own, so `kill -INT` still stops it."""
    stack = start_stack(
        FIXTURE_TEMPLATE, shell_prefix=("bash", "-c", 'trap "" INT; exec "$@"', "-")
    )
    caught = int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{stack.proc.pid}/status").read_text().splitlines()
            if line.startswith("SigCgt:")
        ),
        16,
    )
    assert caught & (1 << (signal.SIGINT - 1))
    children = _children(stack, 2)
    assert stop_stack(stack, signal.SIGINT) == 0
    assert "local stack stopped" in stack.output_text()
    assert [pid for pid in children if alive(pid)] == []
