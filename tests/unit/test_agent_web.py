"""The agent's web front door (issue 20, items 8 and 9), served for real by uvicorn on
loopback in front of a stand-in agent (the pages' contents are tested with the real agent in
tests/integration/test_agent.py): credentials of any alphabet are a yes or a 401, a foreign
``Host`` is a 400, and every response carries the security headers."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import uvicorn

from mongo_lifeboat.agent.web import SECURITY_HEADERS, allowed_hosts, build_app

from ..support.waiting import wait_for


class StandIn:
    DOCUMENTS = ("status",)

    def document(self, name: str) -> dict[str, Any]:
        return {"document": name}

    def metrics(self) -> tuple[bytes, str]:
        return b"", "text/plain"

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    started: ClassVar[list[tuple[str, tuple[str, ...]]]] = []
    enabled = True

    def mounts_enabled(self) -> bool:
        return self.enabled

    def start_mount(self, to: str, namespaces: tuple[str, ...]) -> None:
        self.started.append((to, namespaces))

    def history(self, ns: str, doc_id: str) -> dict[str, Any]:
        asked = {"ns": ns, "id": doc_id}
        if doc_id == "bad":
            return {
                "ns": ns,
                "id": doc_id,
                "error": "not an _id: 'bad'",
                "hint": "write it as JSON",
                "asked": asked,
            }
        version = {
            "kind": "insert",
            "ts": "1:1",
            "wall": "w",
            "ns": ns,
            "archived": True,
            "document": {"x": doc_id},
        }
        return {
            "ns": ns,
            "id": doc_id,
            "base": "b1",
            "versions": [version],
            "gaps": [],
            "objects_read": 2,
            "asked": asked,
        }


@pytest.fixture
def served() -> Iterator[tuple[int, int]]:
    """(port of a token-less loopback agent, port of one with a token)."""
    servers = []
    StandIn.started.clear()
    for token in (None, "s3cret-tøken"):
        app = build_app(StandIn(), token, allowed_hosts("127.0.0.1", ["backups.internal"]))  # type: ignore[arg-type]
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        threading.Thread(target=server.run, daemon=True).start()
        wait_for(lambda s=server: bool(s.started), "the web server")
        servers.append(server)
    try:
        yield tuple(s.servers[0].sockets[0].getsockname()[1] for s in servers)  # type: ignore[misc]
    finally:
        for s in servers:
            s.should_exit = True


def _get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    for k, v in headers.items():
        conn.putheader(k, v.encode("latin-1") if isinstance(v, str) else v)
    conn.endheaders()
    return conn.getresponse()


def test_a_foreign_host_is_refused_and_loopback_names_are_answered(served: tuple[int, int]) -> None:
    open_port, _ = served
    assert _get(open_port, "/api/status", {"Host": "rebind.attacker.example"}).status == 400
    for host in (
        f"127.0.0.1:{open_port}",
        f"localhost:{open_port}",
        f"[::1]:{open_port}",
        "backups.internal",
    ):
        response = _get(open_port, "/api/status", {"Host": host})
        assert response.status == 200, host
        for name, value in SECURITY_HEADERS.items():
            assert response.getheader(name) == value


def test_credentials_of_any_alphabet_are_a_yes_or_a_401(served: tuple[int, int]) -> None:
    _, guarded = served
    host = {"Host": f"127.0.0.1:{guarded}"}
    wrong = [
        {"Authorization": "Basic " + base64.b64encode("u:pässwörd".encode()).decode()},
        {"Authorization": "Bearer p\xe4ss"},
        {"Authorization": "Basic not-base64!!"},
        {},
    ]
    for headers in wrong:
        assert _get(guarded, "/api/status", {**host, **headers}).status == 401, headers
    right = base64.b64encode("anyone:s3cret-tøken".encode()).decode()
    assert _get(guarded, "/api/status", {**host, "Authorization": f"Basic {right}"}).status == 200


def test_a_documents_history_is_searched_from_the_dashboard_escaped_and_guarded(
    served: tuple[int, int],
) -> None:
    open_port, guarded = served
    host = {"Host": f"127.0.0.1:{open_port}"}
    query = "/history?ns=shop.orders&id=%3Cscript%3Ealert(1)%3C/script%3E"
    page = _get(open_port, query, host).read().decode()
    assert page.count('<tr class="version">') == 1 and "<script>" not in page and "&lt;script&gt;" in page
    assert 'action="/history"' in page  # the form to ask again, filled in as asked
    assert "form-action 'self'" in SECURITY_HEADERS["Content-Security-Policy"]
    bad = _get(open_port, "/history?ns=shop.orders&id=bad", host).read().decode()
    assert 'id="history-error"' in bad and "write it as JSON" in bad
    api = _get(open_port, "/api/history?ns=shop.orders&id=42", host)
    assert api.status == 200 and json.loads(api.read())["versions"][0]["document"] == {"x": "42"}
    assert _get(open_port, "/api/history?ns=shop.orders", host).status == 400
    assert _get(open_port, "/api/history?ns=shop.orders&id=bad", host).status == 400
    assert _get(guarded, "/history?ns=a.b&id=1", {"Host": f"127.0.0.1:{guarded}"}).status == 401


def _post(port: int, path: str, body: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
    )
    return conn.getresponse()


def test_a_mount_is_started_from_the_agents_own_page_only(served: tuple[int, int]) -> None:
    open_port, guarded = served
    host = {"Host": f"127.0.0.1:{open_port}"}
    own = _post(
        open_port,
        "/mounts",
        "to=inc-6b0538bf00000005&ns=shop.*+crm.users",
        {**host, "Origin": f"http://127.0.0.1:{open_port}"},
    )
    assert own.status == 303 and own.getheader("Location") == "/#mounts"
    assert StandIn.started == [("inc-6b0538bf00000005", ("shop.*", "crm.users"))]
    foreign = _post(open_port, "/mounts", "to=latest", {**host, "Origin": "http://attacker.example"})
    assert foreign.status == 403 and len(StandIn.started) == 1
    cross = _post(
        open_port, "/mounts", "to=latest", {**host, "Origin": "null", "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status == 403 and len(StandIn.started) == 1
    assert _post(open_port, "/mounts", "to=latest", {**host, "Origin": "null"}).status == 403  # cannot tell
    # What Chromium sends from the page itself (its no-referrer policy makes Origin null):
    same = _post(
        open_port, "/mounts", "to=latest", {**host, "Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )
    assert same.status == 303 and StandIn.started[-1] == ("latest", ())
    StandIn.started.pop()
    assert _get(open_port, "/mounts", host).status == 405  # a GET starts nothing
    assert _post(guarded, "/mounts", "to=latest", {"Host": f"127.0.0.1:{guarded}"}).status == 401
    StandIn.enabled = False
    try:
        assert _post(open_port, "/mounts", "to=latest", host).status == 404
    finally:
        StandIn.enabled = True
    assert len(StandIn.started) == 1
