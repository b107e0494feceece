"""The local API's HTTP front, as API Gateway's: a burst of connections all get answers, path
parameters arrive percent-decoded, malformed requests get a JSON answer at once (never a hang,
never a dropped connection), CORS preflights and the gateway's own answers follow the template.
Load is bounded and on 127.0.0.1 only."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

ORIGIN = "https://app.prediag.example"  # CorsAllowedOrigin's default in template.yaml


def _port(stack: RunningStack) -> int:
    return int(stack.api_url.rsplit(":", 1)[1])


def _raw(port: int, request: bytes, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send raw bytes; the whole answer (until the server closes) and how long it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def test_a_burst_of_200_concurrent_connections_gets_200_answers(
    fixture_stack: RunningStack,
) -> None:
    clients = 200
    port = _port(fixture_stack)
    ready = threading.Barrier(clients)
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        try:
            ready.wait(30)  # every client connects at the same moment
            request = f"GET /echo/burst-{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            answer, _ = _raw(port, request.encode(), 60)
            status = answer.split(b"\r\n", 1)[0].decode() if answer else "no answer"
        except OSError as exc:
            status = type(exc).__name__
        with lock:
            statuses[status] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    print(f"\n[{clients} concurrent connections answered in {time.monotonic() - started:.2f}s]")
    assert statuses == {"HTTP/1.1 200 OK": clients}


def test_percent_encoded_path_parameters_reach_the_function_decoded(
    fixture_stack: RunningStack,
) -> None:
    with fixture_stack.http() as http:
        event = http.get("/echo/caf%C3%A9/a%2Db%20c").json()["event"]
    assert event["pathParameters"] == {"proxy": "café/a-b c"}
    assert event["path"] == "/echo/caf%C3%A9/a%2Db%20c"  # as REST APIs pass the path: as sent


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (
            b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
        (
            b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nabc",
            400,
        ),
        (b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n", 413),
        (b"NOT AN HTTP REQUEST\r\n\r\n", 400),
    ],
    ids=["negative", "not-a-number", "two-lengths", "length-and-chunked", "over-10-mb", "garbage"],
)
def test_a_malformed_request_gets_a_json_answer_at_once(
    fixture_stack: RunningStack, request_bytes: bytes, status: int
) -> None:
    answer, elapsed = _raw(_port(fixture_stack), request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b"Content-Type: application/json" in head
    assert body.startswith(b'{"message": ')
    assert elapsed < 2.0


def test_a_chunked_request_body_reaches_the_function(fixture_stack: RunningStack) -> None:
    request = (
        b"PUT /echo/chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b'5\r\n{"k":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    answer, _ = _raw(_port(fixture_stack), request)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'\\"k\\": 1}' in answer


def test_a_cors_preflight_is_answered_from_the_templates_cors_settings(
    real_stack: RunningStack,
) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with real_stack.http() as http:
        preflight = http.options("/pre-diagnoses", headers=headers)  # no token needed
        on_a_parameter_path = http.options("/pre-diagnoses/some-id", headers=headers)
        unknown = http.options("/nowhere", headers=headers)
    for answer in (preflight, on_a_parameter_path):
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert answer.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
        assert answer.headers["Access-Control-Allow-Headers"] == (
            "Authorization,Content-Type,Idempotency-Key"
        )
        assert answer.headers["Access-Control-Max-Age"] == "600"
    assert unknown.status_code == 403
    assert unknown.json() == {"message": "Missing Authentication Token"}


def test_the_gateways_own_answers_carry_the_templates_gateway_response_headers(
    real_stack: RunningStack,
) -> None:
    with real_stack.http() as http:
        unauthorized = http.get("/pre-diagnoses")
        missing = http.request("TRACE", "/pre-diagnoses")
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"message": "Unauthorized"}
    assert unauthorized.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert missing.status_code == 403
    for answer in (unauthorized, missing):
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN  # DEFAULT_4XX
