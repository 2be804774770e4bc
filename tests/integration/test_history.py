"""Acceptance (issue 24, history): one document through insert, many updates (array changes
among them), a bulk-delete incident that removed it, ``undo`` that put it back and a rename of
its collection: ``lifeboat history`` lists every version, each equal to what the source held
right after that change (a log the test keeps), names the incident, follows the rename, reads
each needed object once, and shows a gap in the archive as a gap."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from mongo_lifeboat.agent.views import document_history_view
from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.catalog.history import load_history, scan_incidents
from mongo_lifeboat.ejson import loads
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.past.history import document_history
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.templates import render_page
from mongo_lifeboat.timestamps import to_str

from ..support.archiving import archiving, newest_ts, wait_archived
from ..support.cli import lifeboat
from ..support.servers import ServerPool

ORDERS = "shop.orders"


def test_a_documents_whole_history(servers: ServerPool, tmp_path: Any) -> None:
    source = servers.new()
    src = source.client()
    orders = src.shop.orders
    orders.insert_many([{"_id": i, "qty": i, "tags": ["x"]} for i in range(300)])  # others around it
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    oid = ObjectId()
    log: list[tuple[str, dict[str, Any] | None]] = []  # (kind, the source's document after it)

    def logged(kind: str) -> None:
        log.append(
            (
                kind,
                orders.find_one({"_id": oid})
                if kind != "rename"
                else src.shop.archive.find_one({"_id": oid}),
            )
        )

    with archiving(repo, source.uri):
        orders.insert_one({"_id": oid, "qty": 1, "tags": ["new"], "lines": [{"sku": "a", "n": 1}]})
        logged("insert")
        orders.update_one({"_id": oid}, {"$set": {"qty": 2, "status": "paid"}})
        logged("update")
        orders.update_one({"_id": oid}, {"$push": {"tags": "vip"}})
        logged("update")
        orders.update_one({"_id": oid}, {"$set": {"lines.0.n": 5}, "$unset": {"status": ""}})
        logged("update")
        orders.update_one({"_id": oid}, {"$pop": {"tags": -1}})
        logged("update")
        orders.replace_one({"_id": oid}, {"qty": 9, "tags": [], "note": "replaced"})
        logged("replace")
        for i in range(3):
            orders.update_one({"_id": oid}, {"$inc": {"qty": 1}, "$push": {"tags": f"t{i}"}})
            logged("update")
        orders.delete_many({"qty": {"$gte": 0}})  # the accident: ours among 300 others
        logged("delete")
        wait_archived(repo, newest_ts(src))
        incidents = [i for i in scan_incidents(repo, load_history(repo)) if i.kind == "bulk-delete"]
        assert len(incidents) == 1
        undone = lifeboat("undo", incidents[0].id, "--apply", "--target", source.uri, "--repo", repo.url)
        assert undone.code == 0, undone.stderr
        logged("insert")
        src.admin.command("renameCollection", ORDERS, to="shop.archive")
        logged("rename")
        src.shop.archive.update_one({"_id": oid}, {"$set": {"archived": True}})
        log.append(("update", src.shop.archive.find_one({"_id": oid})))
        wait_archived(repo, newest_ts(src))

    res = lifeboat("history", ORDERS, f'{{"$oid": "{oid}"}}', "--repo", repo.url, "--json")
    assert res.code == 0, res.stderr
    out = res.json()
    versions = out["versions"]
    assert versions[0]["kind"] == "state" and versions[0]["document"] is None  # not in the base
    shown = [(v["kind"], loads_doc(v["document"])) for v in versions[1:]]
    assert [k for k, _ in shown] == [k for k, _ in log]
    for (kind, got), (_, expected) in zip(shown, log, strict=True):
        assert got == expected, (kind, got, expected)
    delete = next(v for v in versions if v["kind"] == "delete")
    assert delete["incident"] == incidents[0].id
    assert [v["ns"] for v in versions if v["kind"] in ("rename", "update")][-2:] == ["shop.archive"] * 2
    assert all(v["archived"] for v in versions) and out["gaps"] == []

    # --diff: what each change did, not the whole document.
    diffed = lifeboat(
        "history", ORDERS, f'{{"$oid": "{oid}"}}', "--repo", repo.url, "--diff", "--json"
    ).json()["versions"]
    assert diffed[2]["changes"] == {"set": {"qty": 2, "status": "paid"}}
    assert diffed[5]["changes"] == {"set": {"tags.0": "vip"}, "truncated": {"tags": 1}}

    # The dashboard's search box asks the same question of the same repository.
    view = document_history_view(repo, None, ORDERS, f'{{"$oid": "{oid}"}}')
    assert {k: v for k, v in view.items() if k != "asked"} == {
        k: v for k, v in out.items() if k != "live_oplog_read"
    }
    page = render_page("history.html", found=view)
    assert page.count('<tr class="version">') == len(versions) and incidents[0].id in page
    assert "not an _id" in document_history_view(repo, None, ORDERS, '{"$oid": ')["error"]

    # Each needed object read once: the base's files of the collection, its bracket, the segments.
    past = load_history(repo)
    found = document_history(repo.storage, past, ORDERS, oid)
    assert len(found.objects_read) == len(set(found.objects_read))
    assert set(found.objects_read) >= {s.key for s in list_segments(repo.storage, past.deployment)}


def loads_doc(document: Any) -> Any:
    """A version's document from --json (relaxed Extended JSON) as the driver reads it."""
    import json

    return None if document is None else loads(json.dumps(document))


def test_a_gap_in_the_archive_is_shown_and_the_live_oplog_beyond_it_is_marked(
    servers: ServerPool, tmp_path: Any
) -> None:
    source = servers.new()
    src = source.client()
    src.shop.orders.insert_many([{"_id": i, "n": 0} for i in range(20)])
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))
    with archiving(repo, source.uri, segment_bytes=1024):
        for n in range(1, 30):
            src.shop.orders.update_one({"_id": 7}, {"$set": {"n": n, "pad": "p" * 200}})
        wait_archived(repo, newest_ts(src))
    segments = list_segments(repo.storage, load_history(repo).deployment)
    assert len(segments) >= 4
    lost = segments[len(segments) // 2]
    repo.storage.delete([lost.key])  # the archive no longer chains there
    src.shop.orders.update_one({"_id": 7}, {"$set": {"n": 100}})  # after the archive: live only
    res = lifeboat("history", ORDERS, "7", "--repo", repo.url, "--source", source.uri, "--json")
    assert res.code == 0, res.stderr
    out = res.json()
    assert [(g["start"], g["end"]) for g in out["gaps"]] == [
        (to_str(segments[len(segments) // 2 - 1].end), to_str(lost.end))
    ]
    versions = out["versions"][1:]
    gap_start = (lost.start.time, lost.start.inc)
    for v in versions:
        seconds, inc = (int(x) for x in v["ts"].split(":"))
        assert v.get("after_gap", False) == ((seconds, inc) > gap_start)
    assert versions[-1]["document"]["n"] == 100 and versions[-1]["archived"] is False
    assert all(v["archived"] for v in versions[:-1])
    assert [v["document"]["n"] for v in versions[:-1]] == sorted(v["document"]["n"] for v in versions[:-1])
    archive_only = lifeboat("history", ORDERS, "7", "--repo", repo.url, "--archive-only", "--json").json()
    assert (
        archive_only["live_oplog_read"] is False and len(archive_only["versions"]) == len(out["versions"]) - 1
    )
