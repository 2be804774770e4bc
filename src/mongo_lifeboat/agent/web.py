"""The agent's dashboard and API (read-only): Starlette, server-rendered with Jinja2.

``/`` the dashboard; ``/api/status`` everything on it as JSON, and ``/api/checks``,
``/api/timeline``, ``/api/backups``, ``/api/drills``, ``/api/repositories``, ``/api/events`` —
the same documents the CLI's ``--json`` prints; ``/metrics`` (Prometheus) and ``/healthz``.
The page loads nothing from anywhere else: its style is inline and its charts are SVG.

Bound beyond loopback, every route but ``/healthz`` needs the plan's ``[agent] token``, as a
bearer token or as the password of HTTP basic auth (what a browser asks for).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .service import Agent

_env = Environment(loader=PackageLoader("mongo_lifeboat.agent", "templates"), autoescape=select_autoescape())


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip(), token)
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(password, token)
    return False


def build_app(agent: Agent, token: str | None) -> Starlette:
    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapper(request: Request) -> Response:
            if token and not _authorized(request, token):
                return PlainTextResponse(
                    "authentication required", 401, headers={"WWW-Authenticate": 'Basic realm="lifeboat"'}
                )
            return await handler(request)

        return wrapper

    def document(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return JSONResponse(agent.document(name))

        return guarded(handler)

    async def dashboard(request: Request) -> Response:
        page = agent.page()
        return HTMLResponse(_env.get_template("dashboard.html").render(**page))

    async def metrics(request: Request) -> Response:
        body, content_type = agent.metrics()
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        health: dict[str, Any] = agent.health()
        return JSONResponse(health, 200 if health["status"] == "ok" else 503)

    routes = [
        Route("/", guarded(dashboard)),
        Route("/metrics", guarded(metrics)),
        Route("/healthz", healthz),
        *(Route(f"/api/{name}", document(name)) for name in agent.DOCUMENTS),
    ]
    return Starlette(routes=routes)
