"""Probes of issue 34 against the agent's HTTP surface, served for real by uvicorn on loopback:
request bodies are limited (413), an ``_id`` that is no number or no ObjectId is a 400 (the
real history view behind it, on a real empty repository), the form's Origin must match in
scheme, host and port, and the metrics of an empty repository are numbers, not an exception.
Then hypothesis over paths, queries, headers and bodies: never a 5xx, memory bounded."""

from __future__ import annotations

import contextlib
import http.client
import resource
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from mongo_lifeboat.agent.views import document_history_view
from mongo_lifeboat.agent.web import MAX_BODY_BYTES, allowed_hosts, build_app
from mongo_lifeboat.metrics import registry_for
from mongo_lifeboat.repo.repository import Repository

from ..support.waiting import wait_for


class RealHistory:
    """The agent's views as far as these probes reach: the history is the real one."""

    DOCUMENTS = ("status",)
    started: ClassVar[list[tuple[str, tuple[str, ...]]]] = []

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    def document(self, name: str) -> dict[str, Any]:
        return {"document": name}

    def page(self) -> dict[str, Any]:
        raise NotImplementedError  # "/" is not probed here (test_agent.py renders it for real)

    def metrics(self) -> tuple[bytes, str]:
        return generate_latest(registry_for(self.repository, None)), "text/plain"

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def mounts_enabled(self) -> bool:
        return True

    def start_mount(self, to: str, namespaces: tuple[str, ...]) -> None:
        self.started.append((to, namespaces))

    def history(self, ns: str, doc_id: str) -> dict[str, Any]:
        return document_history_view(self.repository, None, ns, doc_id)


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    repository = Repository.init("file://" + str(tmp_path_factory.mktemp("web") / "repo"))
    app = build_app(RealHistory(repository), None, allowed_hosts("127.0.0.1", []))  # type: ignore[arg-type]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    wait_for(lambda: bool(server.started), "the web server")
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True


def _request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if body is not None and "Content-Length" not in headers:
        headers["Content-Length"] = str(len(body))
    for k, v in headers.items():
        conn.putheader(k, v.encode("latin-1", "replace"))
    conn.endheaders()
    if body is not None:
        with contextlib.suppress(OSError):  # answered and closed before reading it all: as tested
            conn.send(body)
    return conn.getresponse()


def test_a_large_form_is_refused_unread(port: int) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    declared = _request(port, "POST", "/mounts", {"Content-Length": str(400 << 20)}, b"to=" + b"x" * 4096)
    assert declared.status == 413
    chunked = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunked.putrequest("POST", "/mounts", skip_host=True)
    chunked.putheader("Host", f"127.0.0.1:{port}")
    chunked.putheader("Transfer-Encoding", "chunked")
    chunked.endheaders()
    try:
        for _ in range(64):  # 4 MiB, never declared
            piece = b"x" * 65536
            chunked.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        chunked.send(b"0\r\n\r\n")
    except OSError:
        pass
    assert chunked.getresponse().status == 413
    assert RealHistory.started == []
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, grown_kib  # bounded: far below what was offered
    small = _request(port, "POST", "/mounts", {"Origin": f"http://127.0.0.1:{port}"}, b"to=latest&ns=shop.*")
    assert small.status == 303 and RealHistory.started == [("latest", ("shop.*",))]


def test_an_id_that_is_no_number_or_no_object_id_is_a_400(port: int) -> None:
    for raw in ("1e999", '{"$oid":"zz"}', "NaN", "-Infinity", '{"$numberDecimal": "Infinity"}'):
        query = urllib.parse.urlencode({"ns": "shop.orders", "id": raw})
        response = _request(port, "GET", f"/api/history?{query}")
        assert response.status == 400, raw
        assert "not an _id" in response.read().decode(), raw
        assert _request(port, "GET", f"/history?{query}").status == 200, raw  # the page says why


def test_the_forms_origin_must_match_scheme_host_and_port(port: int) -> None:
    for origin in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}", "http://127.0.0.1"):
        response = _request(port, "POST", "/mounts", {"Origin": origin}, b"to=latest")
        assert response.status == 403, origin


def test_an_empty_repositorys_metrics_are_numbers_not_an_exception(tmp_path: Path) -> None:
    repository = Repository.init("file://" + str(tmp_path / "repo"))
    text = generate_latest(registry_for(repository, None)).decode()
    assert 'lifeboat_restorable_windows{deployment=""} 0.0' in text


_PATHS = st.sampled_from(
    ["/", "/api/status", "/api/history", "/history", "/mounts", "/metrics", "/healthz", "/x"]
)
_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
    path=_PATHS,
    query=st.dictionaries(st.sampled_from(["ns", "id", "to", "x"]), _TEXT, max_size=3),
    headers=st.dictionaries(
        st.sampled_from(["Origin", "Sec-Fetch-Site", "Authorization", "Content-Type", "Cookie"]),
        _TEXT,
        max_size=3,
    ),
    body=st.one_of(st.none(), st.binary(max_size=MAX_BODY_BYTES + 64)),
)
def test_no_request_gets_a_server_error(
    port: int, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes | None
) -> None:
    if path == "/" and method in ("GET", "HEAD"):
        return  # the dashboard needs the real agent (RealHistory.page is not here)
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    response = _request(port, method, target, headers, body)
    assert response.status < 500, (method, target, headers, response.status)
    with contextlib.suppress(ConnectionResetError):  # answered without reading a body it did not need
        response.read()
