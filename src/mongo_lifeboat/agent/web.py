"""The agent's dashboard and API (read-only): Starlette, server-rendered with Jinja2.

``/`` the dashboard; ``/api/status`` everything on it as JSON, and ``/api/checks``,
``/api/timeline``, ``/api/backups``, ``/api/drills``, ``/api/repositories``, ``/api/events`` —
the same documents the CLI's ``--json`` prints; ``/history?ns=NS&id=ID`` one document's
history (``/api/history`` as JSON: ``lifeboat history --archive-only --json``), read from the
repository in a worker thread; ``POST /mounts`` starts a read-only mount of a moment
(``[agent] mounts``; from the agent's own page only); ``/metrics`` (Prometheus) and ``/healthz``.
The page loads nothing from anywhere else: its style is inline and its charts are SVG.

Bound beyond loopback, every route but ``/healthz`` needs the plan's ``[agent] token``, as a
bearer token or as the password of HTTP basic auth (what a browser asks for).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..templates import render_page

if TYPE_CHECKING:
    from .views import Views


def _authorized(request: Request, token: str) -> bool:
    """Bytes compared in constant time: any credential, ASCII or not, is a yes or a no (401)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    expected = token.encode()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode("utf-8", "surrogateescape"), expected)
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        except ValueError:
            return False
        return hmac.compare_digest(password, expected)
    return False


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
# Sent with every response: the page runs no script, loads nothing from elsewhere, is never framed.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}


def _host_name(host_header: str) -> str:
    """``[::1]:8077`` -> ``::1``; ``localhost:8077`` -> ``localhost``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _same_origin(request: Request) -> bool:
    """Whether a POST comes from the agent's own page (or from no page: a script with the
    token). Browsers say where a request comes from in ``Sec-Fetch-Site``; ``Origin`` is
    ``null`` under this page's no-referrer policy, so it tells only when it names a site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return site is not None or origin is None
    return _origin_of(origin) == _origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port filled in; None if unparseable."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


# Every request body: the only form is a few fields (a moment and namespaces).
MAX_BODY_BYTES = 16 * 1024


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None once it exceeds ``MAX_BODY_BYTES`` (read no further: 413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def allowed_hosts(listen_host: str, configured: list[str]) -> set[str] | None:
    """The ``Host`` names the agent answers: on loopback only loopback names (and those
    configured), so a DNS-rebinding page cannot read it; beyond loopback (a token guards it)
    any, unless ``[agent] allowed_hosts`` names them."""
    names = {n.lower() for n in configured}
    if listen_host in LOOPBACK_NAMES or listen_host.startswith("127."):
        return LOOPBACK_NAMES | {listen_host} | names
    return (names | LOOPBACK_NAMES | {listen_host}) if names else None


def build_app(views: Views, token: str | None, hosts: set[str] | None = None) -> Starlette:
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
            return JSONResponse(views.document(name))

        return guarded(handler)

    async def dashboard(request: Request) -> Response:
        page = views.page()
        return HTMLResponse(render_page("dashboard.html", **page))

    async def history_query(request: Request) -> dict[str, Any] | None:
        ns, doc_id = request.query_params.get("ns", "").strip(), request.query_params.get("id", "").strip()
        if not ns or not doc_id:
            return None
        found: dict[str, Any] = await run_in_threadpool(views.history, ns, doc_id)
        return found

    async def history_page(request: Request) -> Response:
        found = await history_query(request)
        return HTMLResponse(render_page("history.html", found=found))

    async def history_api(request: Request) -> Response:
        found = await history_query(request)
        if found is None:
            return JSONResponse({"error": "give ns and id", "hint": "/api/history?ns=shop.orders&id=42"}, 400)
        return JSONResponse(found, found.get("status", 400) if "error" in found else 200)

    async def mount(request: Request) -> Response:
        """POST from the dashboard's form: start mounting a moment, then back to the page."""
        if not views.mounts_enabled():
            return PlainTextResponse("mounts are off: set [agent] mounts = true", 404)
        if not _same_origin(request):
            return PlainTextResponse("a mount is started from the agent's own page only", 403)
        # The form is url-encoded (no files): read with the standard library, not a form parser.
        body = await _capped_body(request)
        if body is None:
            return PlainTextResponse(f"the form is larger than {MAX_BODY_BYTES} bytes", 413)
        form = parse_qs(body.decode("utf-8", "replace"))
        namespaces = tuple(p for p in " ".join(form.get("ns", [])).replace(",", " ").split() if p)
        views.start_mount((form.get("to") or ["latest"])[0].strip() or "latest", namespaces)
        return RedirectResponse("/#mounts", 303)

    async def metrics(request: Request) -> Response:
        body, content_type = views.metrics()
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        health: dict[str, Any] = views.health()
        return JSONResponse(health, 200 if health["status"] == "ok" else 503)

    class Guard(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            name = _host_name(request.headers.get("host", "")).lower()
            declared = request.headers.get("content-length", "")
            if hosts is not None and name not in hosts:
                response: Response = PlainTextResponse(
                    "this Host is not one the agent answers (see [agent] allowed_hosts)", 400
                )
            elif declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                response = PlainTextResponse(f"request bodies are limited to {MAX_BODY_BYTES} bytes", 413)
            else:
                response = await call_next(request)
            response.headers.update(SECURITY_HEADERS)
            return response

    routes = [
        Route("/", guarded(dashboard)),
        Route("/metrics", guarded(metrics)),
        Route("/healthz", healthz),
        Route("/history", guarded(history_page)),
        Route("/api/history", guarded(history_api)),
        Route("/mounts", guarded(mount), methods=["POST"]),
        *(Route(f"/api/{name}", document(name)) for name in views.DOCUMENTS),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard)])
