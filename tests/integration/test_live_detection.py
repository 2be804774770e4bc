"""Issue 37, part 2: the agent's archiver notices a bulk delete as it happens. Busy single-document
writers for a minute reach the notifier with nothing; a deleteMany under the same traffic reaches
it within 10 s as an incident event naming the incident and its undo, and is counted by kind in
the metrics."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from ..support.agent import AgentRun
from ..support.cli import lifeboat
from ..support.servers import ServerPool
from ..support.single_writers import Clients
from ..support.waiting import wait_for
from ..support.webhook import Hook, webhook


def _incidents(hook: Hook) -> list[dict[str, Any]]:
    """The incident events (``[lifeboat] <deployment>: incident <status>``), not every message
    that mentions incidents (the detection check's own, say)."""
    return [p for p in hook.payloads() if re.search(r": incident (failure|warning)$", p.get("title", ""))]


def test_a_bulk_delete_reaches_the_notifier_within_seconds_and_single_writers_never(
    servers: ServerPool, tmp_path: Path
) -> None:
    source = servers.new()
    src: Any = source.client()
    src.shop.orders.insert_many([{"_id": i, "qty": i % 7} for i in range(600)])
    repo = "file://" + str(tmp_path / "repo")
    assert lifeboat("init", "--repo", repo).code == 0
    assert lifeboat("backup", "--source", source.uri, "--repo", repo).code == 0
    with webhook() as hook:
        plan = tmp_path / "lifeboat.toml"
        plan.write_text(
            f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nurl = "{repo}"\n'
            f'[alerts]\nnotify = ["{hook.url}"]\n[agent]\ncheck_interval = "5s"\nwarmup = "2s"\n'
            "segment_seconds = 1\n"
        )
        run = AgentRun(plan)
        try:
            wait_for(lambda: run.api("status")["archiver"]["running"], "the archiver to run", 60)
            # A minute of busy single writers of every kind, in the very collections: nothing.
            with Clients(source.uri, 2, colls=("shop.orders", "shop.carts")) as writers:
                deadline = time.monotonic() + 60
                wait_for(lambda: time.monotonic() >= deadline, "a minute of single writes", 90)
                assert writers.done > 1000  # (they wrote all along)
            assert _incidents(hook) == [], _incidents(hook)
            # Then a deleteMany while clients write elsewhere (one writing single deletes into the
            # same collection at that very moment would be counted in it: see the README).
            with Clients(source.uri, 2):
                started = time.monotonic()
                assert src.shop.orders.delete_many({"_id": {"$lt": 500}}).deleted_count == 500
                wait_for(lambda: bool(_incidents(hook)), "the incident at the notifier", 10)
                took = time.monotonic() - started
            # The agent keeps what it saw live, and its timeline draws it.
            detections = run.api("status")["detections"]
            page = run.get("/").decode()
        finally:
            run.stop()
    sent = _incidents(hook)
    assert len(sent) == 1, sent
    message = sent[0]["message"]
    # Named by the deployment the archiver read from the server (the plan names none).
    assert f"{src.admin.command('hello')['setName']}: incident" in sent[0]["title"], sent[0]
    assert "bulk-delete" in message and "shop.orders" in message and "500 documents" in message, message
    incident_id = message.split("incident ", 1)[1].split(":", 1)[0]
    assert incident_id.startswith("inc-") and f"undo {incident_id}" in message, message
    assert took < 10
    assert [(d["incident_kind"], d["ns"], d["count"], d["incident_id"]) for d in detections] == [
        ("bulk-delete", "shop.orders", 500, incident_id)
    ], detections
    assert f"shop.orders (500) {incident_id} at " in page, page  # its mark on the timeline
    # The same id is the one lifeboat incidents reports (and undo takes), and the metrics count it.
    listed = lifeboat("incidents", "--repo", repo, "--json")
    assert listed.code == 0, listed.stderr
    assert incident_id in {i["id"] for i in listed.json()}
    metrics = lifeboat("--config", str(plan), "metrics", "--once")
    assert metrics.code == 0, metrics.stderr
    assert "lifeboat_incidents_detected_total{deployment=" in metrics.stdout
    assert 'kind="bulk-delete"} 1.0' in metrics.stdout, metrics.stdout
