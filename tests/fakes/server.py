"""Base of the fake AI provider servers: a stdlib ThreadingHTTPServer on 127.0.0.1 with a
scripted behaviour per request, a record of every request, and a small control API.

Behaviour per request: the next scripted Behaviour if any, else the server's default. Every
request returns or closes within its behaviour's delay (a stop releases any wait at once).

Control API (JSON, for the local stack and end-to-end tests):
  POST /_fake/script    {"behaviours": [{"kind": "rate_limit", "retry_after_s": 1}, ...],
                         "default": {"kind": "ok", "delay_s": 0.5}}   (both optional)
  POST /_fake/scenario  {"urgency": "immediate", "differentials": [[name, likelihood, why]]}
  POST /_fake/reset     back to answering the default scenario at once
  GET  /_fake/requests  [{"at": monotonic seconds, "path": ..., "body": ...}, ...]
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal

from tests.fakes.scenario import Scenario

Kind = Literal[
    "ok",
    "rate_limit",
    "server_error",
    "hang",
    "refusal",
    "invalid_schema",
    "malformed_json",
    "obey_steering",
    "unauthorized",
    "forbidden",
    "bad_request",
    "echo_bad_request",
    "trickle",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

HOST = "127.0.0.1"
MAX_DELAY_S = 120.0


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one request.

    kind: ok (the scenario's assessment), rate_limit (429 + Retry-After), server_error
    (`status`, 500 by default), hang (no answer: the connection is closed after `delay_s`),
    refusal, invalid_schema (valid JSON, invalid assessment), malformed_json, obey_steering
    (answers non_urgent, as a model that follows the owner's embedded instructions),
    unauthorized (401; 403 on Bedrock), forbidden (403), bad_request (400), echo_bad_request
    (400 whose message quotes the request's user message, as some APIs quote what they refuse),
    trickle (the scenario's answer sent a few bytes at a time over `delay_s`, so no single read
    times out).
    delay_s: wait before answering (for hang: before closing; for trickle: the sending time).
    """

    kind: Kind = "ok"
    delay_s: float = 0.0
    retry_after_s: float = 1.0
    status: int = 500

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown behaviour {self.kind!r}")
        if not 0 <= self.delay_s <= MAX_DELAY_S:
            raise ValueError(f"delay_s must be within 0..{MAX_DELAY_S}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Behaviour:
        return cls(**data)


@dataclass(frozen=True)
class RecordedRequest:
    at: float
    """time.monotonic() when the request arrived (same clock as the test process)."""
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = field(repr=False, default=b"")

    def header(self, name: str) -> str | None:
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get(name.lower())


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Trickle:
    reply: Reply
    seconds: float
    stopping: threading.Event


TRICKLE_STEP_S = 0.1


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: a burst of analyses opens more connections
    # than that at once, and the kernel drops the rest's SYNs (retried after 1 s, 3 s, ...).
    request_queue_size = 512
    fake: FakeProviderServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its socket under a sleeping handler.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, as from a real server
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _trickle(self, trickle: Trickle) -> None:
        reply = trickle.reply
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.flush()
        steps = max(int(trickle.seconds / TRICKLE_STEP_S), 1)
        size = -(-len(reply.body) // steps)
        for start in range(0, len(reply.body), size):
            if trickle.stopping.wait(TRICKLE_STEP_S):
                break
            self.wfile.write(reply.body[start : start + size])
            self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        fake = self.server.fake
        if self.path.startswith("/_fake/"):
            self._send(fake.control(method, self.path, raw))
            return
        if method != "POST" or not fake.matches(self.path):
            self._send(Reply(404, json.dumps({"message": f"no route {self.path}"}).encode()))
            return
        reply = fake.handle(method, self.path, dict(self.headers.items()), raw)
        if isinstance(reply, Trickle):
            self._trickle(reply)
            return
        if reply is None:  # hang: close without an answer
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(reply)


class FakeProviderServer:
    """One fake provider. Subclasses implement `matches`, `answer` and `error`."""

    name: ClassVar[str] = "fake"

    def __init__(self, port: int = 0, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or Scenario()
        self.default = Behaviour()
        self.requests: list[RecordedRequest] = []
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HttpServer((HOST, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> FakeProviderServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-{self.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------ behaviour
    def script(self, *behaviours: Behaviour) -> None:
        """Behaviours for the next requests, in order; then the default again."""
        with self._lock:
            self._script.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        with self._lock:
            self.default = behaviour

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.default = Behaviour()
            self.scenario = Scenario()

    def _next(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # ------------------------------------------------------------ requests
    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> Reply | Trickle | None:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(time.monotonic(), method, path, headers, body, raw)
        with self._lock:
            self.requests.append(recorded)
        behaviour = self._next()
        if behaviour.kind == "trickle":
            return Trickle(
                self.answer(Behaviour("ok"), recorded), behaviour.delay_s, self._stopping
            )
        self._pause(behaviour.delay_s)
        if behaviour.kind == "hang":
            return None
        if behaviour.kind in ("ok", "refusal", "invalid_schema", "malformed_json", "obey_steering"):
            return self.answer(behaviour, recorded)
        return self.error(behaviour, recorded)

    def control(self, method: str, path: str, raw: bytes) -> Reply:
        data: Any = json.loads(raw) if raw else {}
        if method == "GET" and path == "/_fake/requests":
            with self._lock:
                items = [
                    {"at": r.at, "method": r.method, "path": r.path, "body": r.body}
                    for r in self.requests
                ]
            return Reply(200, json.dumps(items).encode())
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return Reply(200, b"{}")
        if method == "POST" and path == "/_fake/script":
            behaviours = [Behaviour.from_dict(b) for b in data.get("behaviours", [])]
            if "default" in data:
                self.set_default(Behaviour.from_dict(data["default"]))
            self.script(*behaviours)
            return Reply(200, json.dumps({"queued": len(behaviours)}).encode())
        if method == "POST" and path == "/_fake/scenario":
            with self._lock:
                self.scenario = Scenario.from_dict(data)
            return Reply(200, json.dumps(asdict(self.scenario)).encode())
        return Reply(404, b'{"message": "unknown control route"}')

    def with_scenario(self, **changes: Any) -> None:
        with self._lock:
            self.scenario = replace(self.scenario, **changes)

    # ------------------------------------------------------------ protocol (subclasses)
    def matches(self, path: str) -> bool:
        raise NotImplementedError

    def answer(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def error(self, behaviour: Behaviour, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def user_text(self, request: RecordedRequest) -> str:
        """The user message of a request (the case text), in this API's request shape."""
        raise NotImplementedError

    def quoted(self, request: RecordedRequest) -> str:
        """An error message quoting the request's user message (for echo_bad_request)."""
        try:
            text = self.user_text(request)
        except (KeyError, IndexError, TypeError):
            text = ""
        return f"Invalid request: the message could not be processed: {text}"

    # ------------------------------------------------------------ helpers
    @staticmethod
    def tokens(text: str | bytes) -> int:
        """A stable stand-in for a tokenizer: about four characters per token."""
        return max(1, len(text) // 4)
