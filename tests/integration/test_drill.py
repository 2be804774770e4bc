"""Acceptance (issue 8): restore drills that prove the data under a concurrent writer, fail
naming what is wrong, refuse the source as staging, and report to a local web hook."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from mongo_lifeboat.backup.service import BackupOptions, run_backup
from mongo_lifeboat.demo import workload
from mongo_lifeboat.drill import report as reports
from mongo_lifeboat.drill.service import DrillOptions, run_drill
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.verify.compare import summarize

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.servers import ServerPool
from ..support.traffic import Traffic
from ..support.webhook import webhook

DOCS = 300
TRAFFIC = ["shop.orders", "analytics.Événements clients"]
QUIET = f"analytics.{workload.LONG_NAME}"  # no traffic writes it


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pool = ServerPool()
    root = tmp_path_factory.mktemp("drill")
    repo = Repository.init("file://" + str(root / "repo"))
    try:
        source = pool.new()
        src = source.client()
        workload.seed(src, DOCS)
        db, coll = QUIET.split(".", 1)
        # _ids of every common type: the proof walks both sides in BSON order.
        src[db][coll].insert_many(
            [
                {"_id": v, "odd": True}
                for v in (ObjectId(), "seven", 2.5, {"a": 1}, datetime(2020, 1, 1), b"bin", True)
            ]
        )
        run_backup(repo, BackupOptions(source.uri))
        traffic = Traffic(src, {ns: list(range(DOCS)) for ns in TRAFFIC}).start()
        with archiving(repo, source.uri):
            traffic.wait_ops(60)
        # The archiver has stopped; the writer goes on through the drill.
        before = len(traffic.log)
        report = run_drill(repo, None, DrillOptions(source.uri, staging=pool.new().uri, rto_s=3600.0, jobs=2))
        during = len(traffic.log) - before
        traffic.stop()
        yield {"pool": pool, "repo": repo, "root": root, "source": source, "report": report, "during": during}
    finally:
        pool.close()


def test_a_drill_under_a_concurrent_writer_passes_with_every_phase_timed(story: dict[str, Any]) -> None:
    report = story["report"]
    assert story["during"] > 0, "the writer must have written while the drill ran"
    assert report.verdict == "pass", report.failures
    assert list(report.phases) == ["fetch_verify", "load", "replay", "indexes", "proof"]
    assert all(seconds >= 0 for seconds in report.phases.values()) and report.phases["proof"] > 0
    assert report.recovery_s == pytest.approx(
        sum(v for k, v in report.phases.items() if k != "proof"), abs=0.01
    )
    assert report.rto == 3600.0 and report.margin == pytest.approx(3600.0 - report.recovery_s, abs=0.01)
    # Every restored document was either compared byte for byte or left out with a reason.
    assert report.documents_compared > 3 * DOCS
    assert report.documents_compared + report.documents_skipped == report.documents_restored
    assert set(report.skipped) <= {"written on the source after T"}
    assert reports.load(story["repo"].storage, report.deployment, report.id) == report


def test_the_report_round_trips_through_the_cli(story: dict[str, Any], tmp_path: Path) -> None:
    env = {"LIFEBOAT_REPO": story["repo"].url}
    report = story["report"]
    listed = lifeboat("drill", "list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert report.id in [d["id"] for d in listed.json()]
    shown = lifeboat("drill", "show", report.id, "--json", env=env)
    assert shown.code == 0 and shown.json() == report.to_json()
    page = tmp_path / "drill.html"
    assert lifeboat("drill", "show", report.id, "--html", str(page), env=env).code == 0
    html = page.read_text()
    assert "PASS" in html and all(phase in html for phase in report.phases)
    assert (
        "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    )  # no network resources


def test_staging_altered_between_load_and_proof_fails_at_the_data_step(story: dict[str, Any]) -> None:
    def tamper(staging: MongoClient[Any]) -> None:
        db, coll = QUIET.split(".", 1)
        staging[db][coll].update_one({"_id": 7}, {"$set": {"tampered": True}})

    report = run_drill(
        story["repo"],
        None,
        DrillOptions(story["source"].uri, staging=story["pool"].new().uri, before_proof=tamper),
    )
    assert report.verdict == "fail"
    assert [(f["step"], f.get("ns"), f.get("_id")) for f in report.failures] == [("data", QUIET, "7")]


def test_a_document_lost_or_added_on_staging_fails_the_data_step(story: dict[str, Any]) -> None:
    """The walk pairs restored documents with the source's both ways: one the restore lost and one
    it invented are each named, though together they leave the count as it was."""

    def tamper(staging: MongoClient[Any]) -> None:
        db, coll = QUIET.split(".", 1)
        staging[db][coll].delete_one({"_id": 8})
        staging[db][coll].insert_one({"_id": "invented", "odd": True})

    report = run_drill(
        story["repo"],
        None,
        DrillOptions(story["source"].uri, staging=story["pool"].new().uri, before_proof=tamper, jobs=3),
    )
    assert report.verdict == "fail"
    found = sorted((f["step"], f.get("ns"), f.get("_id"), f["problem"]) for f in report.failures)
    assert found == [
        ("data", QUIET, "'invented'", "missing on the source"),
        ("data", QUIET, "8", "missing after the restore"),
    ], report.failures


def test_a_subset_drill_projects_the_whole_restore_against_the_rto(story: dict[str, Any]) -> None:
    report = run_drill(
        story["repo"],
        None,
        DrillOptions(
            story["source"].uri, staging=story["pool"].new().uri, ns_include=("shop.orders",), rto_s=0.001
        ),
    )
    assert report.scope == ["shop.orders"] and report.collections == 1
    assert report.projected_recovery_s is not None and report.projected_recovery_s > report.recovery_s
    assert report.margin == pytest.approx(0.001 - report.projected_recovery_s, abs=0.01)
    assert report.verdict == "fail" and [f["step"] for f in report.failures] == ["rto"]


def test_a_corrupted_object_fails_the_drill_naming_it_and_alerts(
    story: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(story["root"] / "repo", copy)
    repo = Repository.open("file://" + str(copy))
    victim = next(f for c in repo.list_backups()[0].manifest.collections for f in c.files)  # type: ignore[union-attr]
    path = copy / victim.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with webhook() as hook:
        plan = tmp_path / "plan.toml"
        plan.write_text(f'[alerts]\nnotify = ["{hook.url}"]\n')
        res = lifeboat(
            "--config", str(plan), "drill", "--json", "--source", story["source"].uri,
            "--staging", story["pool"].new().uri, env={"LIFEBOAT_REPO": repo.url},
        )  # fmt: skip
        payloads = hook.payloads()
    assert res.code == 18, res.stderr
    out = res.json()
    assert out["verdict"] == "fail"
    assert [(f["step"], f["object"]) for f in out["failures"]] == [("integrity", victim.key)]
    assert any("drill failure" in p["title"] and victim.key in p["message"] for p in payloads), payloads


def test_a_staging_uri_that_is_the_source_is_refused_with_nothing_written(story: dict[str, Any]) -> None:
    src = story["source"].client()
    before = summarize(src)
    res = lifeboat(
        "drill", "--source", story["source"].uri, "--staging", story["source"].uri,
        env={"LIFEBOAT_REPO": story["repo"].url},
    )  # fmt: skip
    assert res.code == 19, res.stderr
    assert "is the source itself" in res.error_lines[0]
    after = summarize(src)
    assert {ns: (s.count, s.content_hash) for ns, s in after.items()} == {
        ns: (s.count, s.content_hash) for ns, s in before.items()
    }


def test_a_drill_whose_oplog_after_t_is_gone_cannot_prove_the_data(
    servers: ServerPool, tmp_path: Path
) -> None:
    source = servers.new(secantus_args=["--oplog-max-entries", "100"])
    src = source.client()
    workload.seed(src, 20)
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    run_backup(repo, BackupOptions(source.uri))  # no archiver: T is the backup's own point
    for i in range(300):
        src.later.writes.insert_one({"_id": i})
    src.admin.command("secantusAdmin.pruneOplog")  # SecantusDB trims lazily: trim now
    report = run_drill(repo, None, DrillOptions(source.uri, staging=servers.new().uri))
    assert report.verdict == "fail"
    assert [f["step"] for f in report.failures] == ["data"]
    assert "not all there" in report.failures[0]["problem"]
