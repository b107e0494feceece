"""A local API Gateway (REST, v1 proxy integration) in front of the in-process functions.

HTTP requests become the proxy events `sam local start-api` produces (resource with `{id}` path
templates, path/query/header parameters with their multi-value forms, body and
isBase64Encoded, requestContext with the Cognito claims when the route has the Cognito
authorizer); the handler's response becomes the HTTP response. Unknown routes answer 404, a
missing or invalid token 401, a failed invocation 502, as API Gateway does.

Local-only administration under `/_local/`: `GET /_local/health`, `GET /_local/esm` and
`POST /_local/esm/{name}/enable|disable` (pause/resume an event source mapping).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from prediag_tools.local import logs
from prediag_tools.local.cognito import TokenVerifier, Unauthorized, apigw_claims
from prediag_tools.local.provision import ApiRoute
from prediag_tools.local.runtime import FunctionRuntime

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form")


@dataclass
class Route:
    spec: ApiRoute
    pattern: re.Pattern[str]
    runtime: FunctionRuntime
    verifier: TokenVerifier | None
    specificity: tuple[int, int]


def compile_path(path: str) -> re.Pattern[str]:
    """`/pre-diagnoses/{id}` -> a regex with a named group per path parameter."""
    parts = []
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        match = re.fullmatch(r"\{([^}+]+)(\+?)\}", segment)
        if match and match.group(2):
            parts.append(f"(?P<{_group(match.group(1))}>.+)")
        elif match:
            parts.append(f"(?P<{_group(match.group(1))}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$")


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


class LocalApi:
    """Routes + event building; `serve()` runs a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        stage: str = "local",
        account_id: str = "123456789012",
        binary_media_types: list[str] | None = None,
    ) -> None:
        self.stage = stage
        self.account_id = account_id
        self.binary_media_types = binary_media_types or []
        self.routes: list[Route] = []
        self.admin: dict[str, Callable[..., Any]] = {}
        api = self

        class Handler(_RequestHandler):
            local_api = api

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        address = self.server.server_address
        raw_host = address[0]
        self.host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        self.port = int(address[1])
        self.url = f"http://{self.host}:{self.port}"
        self._thread: threading.Thread | None = None

    def add_route(
        self, spec: ApiRoute, runtime: FunctionRuntime, verifier: TokenVerifier | None
    ) -> None:
        params = spec.path.count("{")
        self.routes.append(
            Route(spec, compile_path(spec.path), runtime, verifier, (params, -len(spec.path)))
        )
        self.routes.sort(key=lambda r: r.specificity)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, path known) for a request."""
        known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            known = True
            if route.spec.method in (method, "ANY"):
                return route, {k: v for k, v in found.groupdict().items()}, True
        return None, {}, known

    def serve(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name="local-api",
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server.server_close()

    def is_binary(self, content_type: str | None) -> bool:
        if not content_type:
            return False
        media = content_type.split(";")[0].strip().lower()
        return any(fnmatch.fnmatch(media, t.lower()) for t in self.binary_media_types)

    def build_event(
        self,
        handler: BaseHTTPRequestHandler,
        route: Route,
        path: str,
        path_params: dict[str, str],
        query: str,
        body: bytes,
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name in handler.headers:
            if name in multi_headers:
                continue
            values = handler.headers.get_all(name) or []
            multi_headers[name] = list(values)
            headers[name] = values[-1] if values else ""
        pairs = parse_qsl(query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for key, value in pairs:
            multi_query.setdefault(key, []).append(value)
        content_type = handler.headers.get("Content-Type")
        is_b64 = False
        text: str | None = None
        if body:
            if self.is_binary(content_type):
                text, is_b64 = base64.b64encode(body).decode(), True
            else:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text, is_b64 = base64.b64encode(body).decode(), True
        now = time.time()
        request_id = str(uuid.uuid4())
        request_context: dict[str, Any] = {
            "resourceId": f"{abs(hash(route.spec.path)) % 10**6:06d}",
            "resourcePath": route.spec.path,
            "httpMethod": handler.command,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{self.stage}{path}",
            "accountId": self.account_id,
            "protocol": handler.request_version,
            "stage": self.stage,
            "domainPrefix": self.host,
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": handler.client_address[0],
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": handler.headers.get("User-Agent"),
                "user": None,
            },
            "domainName": handler.headers.get("Host") or f"{self.host}:{self.port}",
            "apiId": "local",
        }
        if claims is not None:
            request_context["authorizer"] = {"claims": claims}
        return {
            "resource": route.spec.path,
            "path": path,
            "httpMethod": handler.command,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": request_context,
            "body": text,
            "isBase64Encoded": is_b64,
        }


class _RequestHandler(BaseHTTPRequestHandler):
    local_api: LocalApi
    protocol_version = "HTTP/1.1"
    server_version = "prediag-local"

    def log_message(self, format: str, *args: Any) -> None:
        logs.emit("api", f"{self.address_string()} {format % args}")

    # every method goes through one place
    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _send(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[str, str]] | None = None,
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

    def _json(
        self, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _handle(self) -> None:
        api = self.local_api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path or "/"
        if path.startswith("/_local/"):
            self._admin(path)
            return
        route, params, known = api.match(self.command, path)
        if route is None:
            if known:
                self._json(403, {"message": "Missing Authentication Token"})
            else:
                self._json(404, {"message": "Not Found"})
            return
        claims: dict[str, str] | None = None
        if route.verifier is not None and route.spec.authorizer is not None:
            try:
                raw = route.verifier.verify(self.headers.get(route.spec.authorizer.header))
            except Unauthorized as exc:
                logs.emit("api", f"401 {self.command} {path}: {exc}")
                self._json(401, {"message": "Unauthorized"})
                return
            claims = apigw_claims(raw)
        event = api.build_event(self, route, path, params, split.query, body, claims)
        result = route.runtime.invoke(event)
        if not result.ok:
            self._json(502, {"message": "Internal server error"})
            return
        self._reply(result.response)

    def _reply(self, response: Any) -> None:
        if not isinstance(response, dict) or not isinstance(response.get("statusCode", 200), int):
            logs.emit("api", "malformed Lambda proxy response")
            self._json(502, {"message": "Internal server error"})
            return
        status = int(response.get("statusCode", 200))
        headers: list[tuple[str, str]] = []
        single = response.get("headers") or {}
        multi = response.get("multiValueHeaders") or {}
        for name, value in single.items():
            if name not in multi:
                headers.append((name, str(value)))
        for name, values in multi.items():
            for value in values or []:
                headers.append((name, str(value)))
        raw_body = response.get("body")
        if raw_body is None:
            payload = b""
        elif response.get("isBase64Encoded"):
            payload = base64.b64decode(raw_body)
        else:
            payload = str(raw_body).encode("utf-8")
        self._send(status, payload, headers)

    def _admin(self, path: str) -> None:
        api = self.local_api
        if path == "/_local/health" and self.command == "GET":
            self._json(200, {"status": "ok"})
            return
        if path == "/_local/esm" and self.command == "GET":
            self._json(200, {"EventSourceMappings": api.admin["list"]()})
            return
        match = re.fullmatch(r"/_local/esm/([^/]+)/(enable|disable)", path)
        if match and self.command == "POST":
            try:
                state = api.admin["set"](match.group(1), match.group(2) == "enable")
            except KeyError:
                self._json(404, {"message": f"no event source mapping {match.group(1)}"})
                return
            self._json(200, state)
            return
        self._json(404, {"message": "Not Found"})
