"""A local API Gateway (REST, v1 proxy integration) in front of the functions' worker pools.

HTTP requests become the proxy events `sam local start-api` produces (resource with `{id}` path
templates, path parameters percent-decoded, query and header parameters with their multi-value
forms, body and isBase64Encoded, requestContext with the Cognito claims when the route has the
Cognito authorizer); the handler's response becomes the HTTP response.

What API Gateway itself answers, it answers here with its JSON bodies and the template's
GatewayResponses headers: an unknown path or method 403 `{"message": "Missing Authentication
Token"}`, a missing or invalid token 401, a failed invocation or a malformed proxy response 502,
no free execution environment within the 29 s integration timeout 504, a body over 10 MB 413,
a malformed request 400. A CORS preflight (OPTIONS) on a path of an API with `Cors` is answered
from those settings, as the mock integration SAM adds does.
"""

from __future__ import annotations

import base64
import fnmatch
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from prediag_tools.local import logs
from prediag_tools.local.cognito import TokenVerifier, Unauthorized, apigw_claims
from prediag_tools.local.httpserver import JsonRequestHandler, LoopbackServer, ServedInThread
from prediag_tools.local.provision import ApiRoute
from prediag_tools.local.workers import FunctionPool, PoolBusy, PoolClosed

API_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
INTEGRATION_TIMEOUT_S = 29.0
MISSING_TOKEN = "Missing Authentication Token"  # noqa: S105 - API Gateway's message

# gateway response type, x-amzn-ErrorType of each status API Gateway answers itself
_GATEWAY_RESPONSES = {
    400: ("BAD_REQUEST_BODY", "BadRequestException"),
    401: ("UNAUTHORIZED", "UnauthorizedException"),
    403: ("MISSING_AUTHENTICATION_TOKEN", "MissingAuthenticationTokenException"),
    413: ("REQUEST_TOO_LARGE", "RequestTooLargeException"),
    429: ("THROTTLED", "TooManyRequestsException"),
    500: ("API_CONFIGURATION_ERROR", "InternalServerErrorException"),
    502: ("INTEGRATION_FAILURE", "InternalServerErrorException"),
    504: ("INTEGRATION_TIMEOUT", "InternalServerErrorException"),
}


@dataclass
class Route:
    spec: ApiRoute
    pattern: re.Pattern[str]
    runtime: FunctionPool
    verifier: TokenVerifier | None
    specificity: tuple[int, int]


@dataclass
class ApiSettings:
    """What an `AWS::Serverless::Api` says about answers the gateway gives itself."""

    cors: dict[str, str] | None = None
    preflight_verifier: TokenVerifier | None = None
    preflight_header: str = "Authorization"
    gateway_headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        properties: dict[str, Any],
        verifier_for: Callable[[str], TokenVerifier] | None = None,
    ) -> ApiSettings:
        """From the API's resolved properties; `verifier_for(user_pool_id)` gives the token
        verifier of the default authorizer when SAM puts it on the preflight too
        (AddDefaultAuthorizerToCorsPreflight, true unless the template says false)."""
        settings = cls(cors=_cors(properties.get("Cors")))
        for kind, response in (properties.get("GatewayResponses") or {}).items():
            headers = ((response or {}).get("ResponseParameters") or {}).get("Headers") or {}
            settings.gateway_headers[str(kind)] = {k: _literal(v) for k, v in headers.items()}
        auth = properties.get("Auth") or {}
        default = auth.get("DefaultAuthorizer")
        on_preflight = str(auth.get("AddDefaultAuthorizerToCorsPreflight", True)).lower()
        if settings.cors and default and on_preflight == "true" and verifier_for is not None:
            spec = (auth.get("Authorizers") or {}).get(default) or {}
            arn = spec.get("UserPoolArn")
            arn = arn[0] if isinstance(arn, list) else arn
            if isinstance(arn, str):
                settings.preflight_verifier = verifier_for(arn.rsplit("/", 1)[-1])
                identity = spec.get("Identity") or {}
                settings.preflight_header = identity.get("Header", "Authorization")
        return settings

    def headers_for(self, status: int) -> list[tuple[str, str]]:
        kind, error_type = _GATEWAY_RESPONSES.get(status, ("", ""))
        default = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        merged = {**self.gateway_headers.get(default, {}), **self.gateway_headers.get(kind, {})}
        headers = list(merged.items())
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        return headers


def _literal(value: Any) -> str:
    """`'value'` (a static value in API Gateway mapping syntax) -> value."""
    text = str(value)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    return text


def _cors(value: Any) -> dict[str, str] | None:
    if not value:
        return None
    if isinstance(value, str):
        return {"AllowOrigin": _literal(value)}
    cors = {k: _literal(v) for k, v in value.items() if k != "AllowCredentials"}
    if str(value.get("AllowCredentials", "")).lower() == "true":
        cors["AllowCredentials"] = "true"
    return cors


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


class LocalApi(ServedInThread):
    """Routes + event building; `serve()` runs the HTTP server on 127.0.0.1 in a thread."""

    thread_name = "local-api"

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
        self.apis: dict[str, ApiSettings] = {}
        api = self

        class Handler(_RequestHandler):
            local_api = api

        self.server = LoopbackServer((host, port), Handler)
        self.server.log_name = "api"
        address = self.server.server_address
        raw_host = address[0]
        self.host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        self.port = int(address[1])
        self.url = f"http://{self.host}:{self.port}"

    def add_route(
        self, spec: ApiRoute, runtime: FunctionPool, verifier: TokenVerifier | None
    ) -> None:
        params = spec.path.count("{")
        self.routes.append(
            Route(spec, compile_path(spec.path), runtime, verifier, (params, -len(spec.path)))
        )
        self.routes.sort(key=lambda r: r.specificity)

    def settings(self, api_id: str | None) -> ApiSettings:
        """An API's settings; for a request that matches no route, the API's when the template
        has one (on AWS each API has a host name of its own)."""
        if api_id is None and len(self.apis) == 1:
            return next(iter(self.apis.values()))
        return self.apis.get(api_id or "") or ApiSettings()

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[Route]]:
        """(route, path parameters decoded, routes of the path) for a request path as sent."""
        same_path: list[Route] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            same_path.append(route)
            if route.spec.method in (method, "ANY"):
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return route, params, same_path
        return None, {}, same_path

    def is_binary(self, content_type: str | None) -> bool:
        if not content_type:
            return False
        media = content_type.split(";")[0].strip().lower()
        return any(fnmatch.fnmatch(media, t.lower()) for t in self.binary_media_types)

    def build_event(
        self,
        handler: JsonRequestHandler,
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


class _RequestHandler(JsonRequestHandler):
    local_api: LocalApi
    server_version = "prediag-local"
    log_name = "api"
    max_body_bytes = 10 * 1024 * 1024  # API Gateway's payload limit

    def _gateway(self, status: int, message: str, api_id: str | None = None) -> None:
        """An answer API Gateway gives itself (with the API's GatewayResponses headers)."""
        settings = self.local_api.settings(api_id)
        headers = [*settings.headers_for(status), ("x-amzn-RequestId", str(uuid.uuid4()))]
        self.send_json(status, {"message": message}, headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == 413:
            message = "Request Too Long"
        super().send_error(code, message, explain)

    def dispatch(self) -> None:
        api = self.local_api
        split = urlsplit(self.path)
        path = split.path or "/"
        if self.command not in API_METHODS:
            self.read_body()
            self._gateway(403, MISSING_TOKEN)
            return
        body = self.read_body()
        route, params, same_path = api.match(self.command, path)
        if route is None:
            if self.command == "OPTIONS" and same_path:
                self._preflight(same_path)
            else:
                self._gateway(403, MISSING_TOKEN, same_path[0].spec.api if same_path else None)
            return
        api_id = route.spec.api
        claims: dict[str, str] | None = None
        if route.verifier is not None and route.spec.authorizer is not None:
            try:
                raw = route.verifier.verify(self.headers.get(route.spec.authorizer.header))
            except Unauthorized as exc:
                logs.emit("api", f"401 {self.command} {path}: {exc}")
                self._gateway(401, "Unauthorized", api_id)
                return
            claims = apigw_claims(raw)
        event = api.build_event(self, route, path, params, split.query, body, claims)
        try:
            result = route.runtime.invoke(event, wait_s=INTEGRATION_TIMEOUT_S)
        except PoolBusy:
            self._gateway(504, "Endpoint request timed out", api_id)
            return
        except PoolClosed:
            self._gateway(502, "Internal server error", api_id)
            return
        if not result.ok:
            self._gateway(502, "Internal server error", api_id)
            return
        self._reply(result.response, api_id)

    def _preflight(self, same_path: list[Route]) -> None:
        api_id = same_path[0].spec.api
        settings = self.local_api.settings(api_id)
        if settings.cors is None:
            self._gateway(403, MISSING_TOKEN, api_id)
            return
        if settings.preflight_verifier is not None:
            try:
                settings.preflight_verifier.verify(self.headers.get(settings.preflight_header))
            except Unauthorized:
                self._gateway(401, "Unauthorized", api_id)
                return
        cors = settings.cors
        methods = cors.get("AllowMethods")
        if methods is None:
            declared = {r.spec.method for r in same_path}
            if "ANY" in declared:
                declared = set(API_METHODS)
            methods = ",".join(sorted(declared | {"OPTIONS"}))
        headers = [
            ("Access-Control-Allow-Origin", cors.get("AllowOrigin", "*")),
            ("Access-Control-Allow-Methods", methods),
        ]
        for key, header in (
            ("AllowHeaders", "Access-Control-Allow-Headers"),
            ("MaxAge", "Access-Control-Max-Age"),
            ("AllowCredentials", "Access-Control-Allow-Credentials"),
        ):
            if key in cors:
                headers.append((header, cors[key]))
        self.send_body(200, b"", headers)

    def _reply(self, response: Any, api_id: str) -> None:
        if not isinstance(response, dict) or not isinstance(response.get("statusCode", 200), int):
            logs.emit("api", "malformed Lambda proxy response")
            self._gateway(502, "Internal server error", api_id)
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
        try:
            if raw_body is None:
                payload = b""
            elif response.get("isBase64Encoded"):
                payload = base64.b64decode(raw_body)
            else:
                payload = str(raw_body).encode("utf-8")
        except (ValueError, TypeError):
            logs.emit("api", "malformed Lambda proxy response body")
            self._gateway(502, "Internal server error", api_id)
            return
        self.send_body(status, payload, headers)
