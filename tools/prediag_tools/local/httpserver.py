"""The HTTP plumbing the local API Gateway and the local Lambda API share.

- `LoopbackServer`: a threading HTTP server whose listen backlog holds a burst (the standard
  library's default of 5 resets connections under load) and whose handler errors are one log
  line, never a traceback on the terminal.
- `ServedInThread`: the serve/close of a server object holding a `LoopbackServer`: it serves from a
  daemon thread until closed, and closing frees the port.
- `JsonRequestHandler`: every method, known or not, reaches `dispatch()`; malformed requests
  (bad request line, header too long, bad or negative `Content-Length`, both `Content-Length`
  and `Transfer-Encoding`, a body over the limit) are answered at once with a JSON error and the
  connection is closed; chunked request bodies are read; an idle client is dropped after
  `timeout` seconds.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prediag_tools.local import logs

LISTEN_BACKLOG = 512  # the kernel caps it at net.core.somaxconn (4096 on current Linux)
_DIGITS = re.compile(r"[0-9]{1,19}")


class RequestError(Exception):
    """A request the server refuses before routing it (answered with `status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoopbackServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    allow_reuse_address = True
    log_name = "http"

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | socket.timeout):
            return  # the client went away
        logs.emit(self.log_name, f"{client_address[0]}: {type(exc).__name__}: {exc}")


class ServedInThread:
    """A `LoopbackServer` (bound at creation) served from a daemon thread named `thread_name`."""

    thread_name = "http"
    server: LoopbackServer
    _thread: threading.Thread | None = None

    def serve(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name=self.thread_name,
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server.server_close()


class JsonRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: a response leaves as headers then body; with Nagle's algorithm the body would
    # wait for the client's delayed ACK of the headers (40 ms) on every kept-alive connection
    disable_nagle_algorithm = True
    timeout = 60  # seconds a client may stay silent (socket timeout)
    max_body_bytes = 10 * 1024 * 1024
    log_name = "http"

    # ------------------------------------------------------------------ entry points
    def dispatch(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def handle_one_request(self) -> None:
        """BaseHTTPRequestHandler's loop, with every method going to `dispatch`."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.answered = False
            try:
                self.dispatch()
            except RequestError as exc:
                self.send_error(exc.status, exc.message)
            except (TimeoutError, ConnectionError):
                raise
            except Exception as exc:  # a bug here must still give the client an answer
                logs.emit(self.log_name, f"{self.command} {self.path}: {type(exc).__name__}: {exc}")
                if self.answered:
                    self.close_connection = True
                else:
                    self.send_error(500, "Internal server error")
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logs.emit(self.log_name, f"{self.address_string()} {format % args}")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        """The JSON body of an error the server itself answers."""
        return {"message": message}

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found while reading the request: JSON, and the connection is closed."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.log_error("code %d, message %s", code, message or phrase)
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # answer with a status line and headers
        body = json.dumps(self.error_body(code, message or phrase)).encode()
        self.send_response(code, phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # ------------------------------------------------------------------ body
    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked); RequestError when it is malformed."""
        lengths = self.headers.get_all("Content-Length") or []
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding and lengths:
            raise RequestError(400, "Content-Length and Transfer-Encoding are exclusive")
        if encoding:
            if encoding != "chunked":
                raise RequestError(400, f"unsupported Transfer-Encoding: {encoding}")
            return self._read_chunked()
        if not lengths:
            return b""
        values = {v.strip() for v in lengths}
        value = values.pop()
        if values or not _DIGITS.fullmatch(value):
            raise RequestError(400, "invalid Content-Length header")
        length = int(value)
        if length > self.max_body_bytes:
            raise RequestError(413, "Request Too Long")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise RequestError(400, "request body shorter than its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise RequestError(400, "malformed chunked request body") from None
            if size < 0:
                raise RequestError(400, "malformed chunked request body")
            if size == 0:
                while self.rfile.readline(65537).strip():
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > self.max_body_bytes:
                raise RequestError(413, "Request Too Long")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise RequestError(400, "chunked request body ended early")
            chunks.append(chunk)
            self.rfile.readline(3)  # the CRLF after the chunk

    # ------------------------------------------------------------------ answers
    def send_response(self, code: int, message: str | None = None) -> None:
        self.answered = True
        super().send_response(code, message)

    def send_body(
        self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        names = set()
        for name, value in headers or []:
            names.add(name.lower())
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(
        self, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.send_body(status, json.dumps(payload).encode(), headers)
