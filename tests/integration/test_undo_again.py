"""Issue 20, item 12: whether an incident's documents are "back already" is decided by what
the target holds now (the oplog followed to the end), not by an earlier undo having written
them: documents put back and then deleted again are conflicts, reported as such, and a rerun
says what it wrote (nothing)."""

from __future__ import annotations

from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.servers import ServerPool


def test_documents_deleted_again_after_an_undo_are_conflicts(servers: ServerPool, repo: Repository) -> None:
    source = servers.new()
    src = source.client()
    src.shop.orders.insert_many([{"_id": i, "qty": i % 100} for i in range(600)])
    env = {"LIFEBOAT_REPO": repo.url, "LIFEBOAT_SOURCE_URI": source.uri}
    assert lifeboat("backup", env=env).code == 0
    with archiving(repo, source.uri):
        # The accident: 300 orders, in one transaction, so that it is found as one command
        # however slowly a loaded machine writes its entries (a plain deleteMany is found by
        # its density, which a stalled server can break up).
        with src.start_session() as session, session.start_transaction():
            src.shop.orders.delete_many({"qty": {"$lt": 50}}, session=session)
        src.shop.orders.insert_one({"_id": "marker"})
    incident = next(i for i in lifeboat("incidents", "--json", env=env).json() if i["kind"] == "bulk-delete")
    with archiving(repo, source.uri):
        first = lifeboat("undo", incident["id"], "--apply", "--json", env=env)
        assert first.code == 0, first.stderr
        assert first.json()["written"] == 300
        src.shop.orders.delete_many({"_id": {"$lt": 100}, "qty": {"$lt": 50}})  # 50 of them, gone again
        src.shop.orders.insert_one({"_id": "marker-2"})
    again = lifeboat("undo", incident["id"], "--apply", "--json", env=env)
    assert again.code == 0, again.stderr
    report = again.json()
    assert report["written"] == 0
    assert report["already_restored"] == 250
    assert len(report["conflicts"]) == 50  # removed again after they were put back
    text = lifeboat("undo", incident["id"], "--apply", env=env)
    assert "nothing to write: 250 of 300 deleted orders are back already" in text.stdout, text.stdout
    assert "50 conflicts" in text.stdout
    assert src.shop.orders.count_documents({"_id": {"$lt": 100}, "qty": {"$lt": 50}}) == 0  # left alone
