"""The operators' console and Swagger UI: static pages that hold no data.

GET /console          the console (HTML); its script reads the caller's ID token and calls the
                      API with it: /admin/... for admins, /pre-diagnoses for a clinic's vets
GET /console/{asset}  the pages' scripts and styles (Swagger UI's bundle included)
GET /swagger          Swagger UI of this API; ?format=json is the OpenAPI document

These routes are the only ones API Gateway serves without the Cognito authorizer (a browser
cannot send a token when it opens a page): they answer the same bytes to everyone, and every
route that reads or changes data keeps the authorizer. The ID token comes from the user pool's
managed login (implicit grant: in the URL fragment, never sent to a server), is kept in the
tab's sessionStorage, and is sent as `Authorization` by the pages' scripts. Every page is
served with a Content-Security-Policy that allows only this API's own scripts, styles and
calls (no inline script, no other origin).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aws_lambda_powertools.event_handler as _powertools_handler
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

logger = Logger(child=True)
router = Router()  # type: ignore[no-untyped-call]

STATIC = Path(__file__).resolve().parent.parent / "console"
SWAGGER_UI = Path(_powertools_handler.__file__).resolve().parent / "openapi" / "swagger_ui"
ASSETS: dict[str, tuple[Path, str]] = {
    "console.js": (STATIC / "console.js", "text/javascript; charset=utf-8"),
    "console.css": (STATIC / "console.css", "text/css; charset=utf-8"),
    "auth.js": (STATIC / "auth.js", "text/javascript; charset=utf-8"),
    "swagger.js": (STATIC / "swagger.js", "text/javascript; charset=utf-8"),
    "swagger-ui-bundle.min.js": (
        SWAGGER_UI / "swagger-ui-bundle.min.js",
        "text/javascript; charset=utf-8",
    ),
    "swagger-ui.min.css": (SWAGGER_UI / "swagger-ui.min.css", "text/css; charset=utf-8"),
}
"""Every file the pages load, by name: nothing else is ever read from disk."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_spec: Callable[[], str] | None = None


def mount(app: APIGatewayRestResolver, spec: Callable[[], str]) -> None:
    """Serve the console and Swagger UI on `app`; `spec` renders the OpenAPI document."""
    global _spec
    _spec = spec
    app.include_router(router)


@lru_cache(maxsize=8)
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _answer(body: str, content_type: str, cache: str = "no-store") -> Response[Any]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type=content_type,
        body=body,
        headers={**PAGE_HEADERS, "Cache-Control": cache},
    )


# ---------------------------------------------------------------------- sign-in settings
@lru_cache(maxsize=1)
def _console_client_id() -> str | None:
    """The console's app client id, from the SSM parameter the template writes it to (the
    client's callback URLs name the API, so the API's function cannot reference it)."""
    name = os.environ.get("CONSOLE_CLIENT_PARAMETER")
    if not name:
        return None
    try:
        import boto3

        value = boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:  # the page still loads; it offers no managed login
        logger.warning("Console sign-in unavailable", extra={"error_type": type(exc).__name__})
        return None
    return str(value) or None


def sign_in_settings() -> dict[str, str]:
    """What the pages need to send a caller to the managed login, and the dashboard's link."""
    settings = {
        "login-domain": os.environ.get("CONSOLE_LOGIN_DOMAIN", ""),
        "client-id": "",
        "dashboard": os.environ.get("DASHBOARD_URL", ""),
    }
    if settings["login-domain"]:
        settings["client-id"] = _console_client_id() or ""
    return settings


def render(page: str) -> str:
    """A page with the sign-in settings in data- attributes of <html> (escaped)."""
    attributes = " ".join(
        f'data-{name}="{html.escape(value, quote=True)}"'
        for name, value in sign_in_settings().items()
    )
    return _read(STATIC / page).replace("<html ", f"<html {attributes} ", 1)


# ---------------------------------------------------------------------- routes
@router.get("/console", include_in_schema=False)
def console_page() -> Response[Any]:
    return _answer(render("index.html"), "text/html; charset=utf-8")


@router.get("/console/<asset>", include_in_schema=False)
def console_asset(asset: str) -> Response[Any]:
    found = ASSETS.get(asset)
    if found is None:
        raise NotFoundError("Not found")
    path, content_type = found
    vendor = path.parent == SWAGGER_UI
    return _answer(_read(path), content_type, "public, max-age=86400" if vendor else "no-cache")


@router.get("/swagger", include_in_schema=False)
def swagger_page() -> Response[Any]:
    query = router.current_event.query_string_parameters or {}
    if query.get("format") == "json":
        if _spec is None:
            raise NotFoundError("Not found")
        return _answer(_spec(), "application/json")
    return _answer(render("swagger.html"), "text/html; charset=utf-8")
