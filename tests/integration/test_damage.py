"""Issue 20, item 1 (manifests): one damaged manifest stays where it is. The other backups
list, restore and verify; a new backup is taken; the damaged one is listed as damaged, named
by verify --all (exit 11, after verifying the rest) and can be deleted."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mongo_lifeboat.catalog.history import single_deployment
from mongo_lifeboat.oplog.reader import newest_entry
from mongo_lifeboat.oplog.segments import list_segments
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import just_after, to_str
from mongo_lifeboat.verify.sampling import todays

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.servers import ServerPool


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_damaged_manifest_blocks_nothing_else(servers: ServerPool, tmp_path: Path, encrypted: bool) -> None:
    url = "file://" + str(tmp_path / "repo")
    env = {"LIFEBOAT_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()} if encrypted else {}
    assert lifeboat("init", "--repo", url, env=env).code == 0  # a key in the environment: encrypted
    source = servers.new()
    src = source.client()
    ids = []
    for i in range(3):
        src.shop.orders.insert_many([{"_id": f"{i}-{n}", "n": n} for n in range(100)])
        res = lifeboat("backup", "--source", source.uri, "--repo", url, "--json", env=env)
        assert res.code == 0, res.stderr
        ids.append(res.json()["backup_id"])
    deployment = res.json()["deployment"]
    manifest = tmp_path / "repo" / deployment / "backups" / ids[1] / "manifest.json"
    if encrypted:
        body = bytearray(manifest.read_bytes())
        body[len(body) // 2] ^= 0x01  # one flipped byte
        manifest.write_bytes(bytes(body))
    else:
        manifest.write_text("garbage{")

    listed = lifeboat("list", "--repo", url, "--json", env=env)
    assert listed.code == 0, listed.stderr
    status = {b["backup_id"]: b["status"] for b in listed.json()["backups"]}
    assert status == {ids[0]: "complete", ids[1]: "damaged", ids[2]: "complete"}
    assert lifeboat("timeline", "--repo", url, env=env).code == 0
    target = servers.new()
    restored = lifeboat("restore", ids[0], "--target", target.uri, "--repo", url, env=env)
    assert restored.code == 0, restored.stderr
    assert target.client().shop.orders.count_documents({}) == 100
    refused = lifeboat("restore", ids[1], "--target", servers.new().uri, "--repo", url, env=env)
    assert refused.code == 7 and f"backup {ids[1]} is damaged" in refused.stderr, refused.stderr

    verified = lifeboat("verify", "--all", "--repo", url, "--json", env=env)
    assert verified.code == 11, verified.stderr
    by_id = {r["backup_id"]: r for r in verified.json()["backups"]}
    assert by_id[ids[0]]["ok"] and by_id[ids[2]]["ok"] and not by_id[ids[1]]["ok"]
    assert by_id[ids[1]]["problems"][0]["object"].endswith(f"{ids[1]}/manifest.json")

    src.shop.orders.insert_one({"_id": "after"})
    assert lifeboat("backup", "--source", source.uri, "--repo", url, env=env).code == 0
    latest = servers.new()
    assert lifeboat("restore", "latest", "--target", latest.uri, "--repo", url, env=env).code == 0
    assert_same(latest.client(), src)
    deleted = lifeboat("delete", ids[1], "--repo", url, env=env)
    assert deleted.code == 0, deleted.stderr
    assert ids[1] not in {
        b["backup_id"] for b in lifeboat("list", "--repo", url, "--json", env=env).json()["backups"]
    }


def test_a_swapped_manifest_or_one_with_an_unsafe_key_is_damage_not_a_crash(
    servers: ServerPool, tmp_path: Path
) -> None:
    """Issue 20, items 2 (plain repositories) and 7: a manifest copied over another backup's,
    and one naming a key outside its backup, are refused when read — before any write."""
    url = "file://" + str(tmp_path / "repo")
    assert lifeboat("init", "--repo", url).code == 0
    source = servers.new()
    source.client().shop.orders.insert_many([{"_id": n} for n in range(50)])
    ids = [lifeboat("backup", "--source", source.uri, "--repo", url, "--json").json() for _ in range(3)]
    root = tmp_path / "repo" / ids[0]["deployment"] / "backups"
    (root / ids[2]["backup_id"] / "manifest.json").write_bytes(
        (root / ids[0]["backup_id"] / "manifest.json").read_bytes()
    )
    unsafe = root / ids[1]["backup_id"] / "manifest.json"
    text = unsafe.read_text()
    first_key = json.loads(text)["collections"][0]["files"][0]["key"]
    unsafe.write_text(text.replace(first_key, first_key.rsplit("/", 1)[0] + "/A/../../../../etc/hostname"))

    listed = lifeboat("list", "--repo", url, "--json").json()["backups"]
    damage = {b["backup_id"]: b.get("damage", "") for b in listed}
    assert "moved or swapped" in damage[ids[2]["backup_id"]]
    assert "unsafe object key" in damage[ids[1]["backup_id"]]
    verified = lifeboat("verify", "--all", "--repo", url)
    assert verified.code == 11, verified.stderr
    target = servers.new()
    refused = lifeboat("restore", ids[1]["backup_id"], "--target", target.uri, "--repo", url)
    assert refused.code == 7, refused.stderr
    assert set(target.client().list_database_names()) <= {"admin", "local", "config"}  # nothing written


def test_a_swapped_encrypted_manifest_or_segment_is_refused_naming_both(
    servers: ServerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20, item 2 (encrypted): an object copied over another fails authentication,
    naming where it is and where it was written; the rest of the repository is unaffected."""
    url = "file://" + str(tmp_path / "repo")
    env = {"LIFEBOAT_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
    monkeypatch.setenv("LIFEBOAT_ENCRYPTION_KEY", env["LIFEBOAT_ENCRYPTION_KEY"])
    assert lifeboat("init", "--repo", url, env=env).code == 0
    source = servers.new()
    src = source.client()
    src.shop.orders.insert_one({"_id": 0})
    first = lifeboat("backup", "--source", source.uri, "--repo", url, "--json", env=env).json()
    with archiving(Repository.open(url), source.uri, segment_bytes=1 << 10):
        src.shop.orders.insert_many([{"_id": i, "pad": "x" * 200} for i in range(1, 60)])
        src.shop.orders.insert_one({"_id": "last"})
    second = lifeboat("backup", "--source", source.uri, "--repo", url, "--json", env=env).json()
    root = tmp_path / "repo" / first["deployment"]
    old, new = (root / "backups" / b / "manifest.json" for b in (first["backup_id"], second["backup_id"]))
    new.write_bytes(old.read_bytes())
    segments = sorted((root / "oplog").rglob("*.bson.zst"))
    assert len(segments) >= 2
    segments[1].write_bytes(segments[0].read_bytes())

    listed = {b["backup_id"]: b for b in lifeboat("list", "--repo", url, "--json", env=env).json()["backups"]}
    assert listed[first["backup_id"]]["status"] == "complete"
    damage = listed[second["backup_id"]]["damage"]
    assert f"{second['backup_id']}/manifest.json holds the object written as" in damage
    assert f"{first['backup_id']}/manifest.json" in damage
    verified = lifeboat("verify", "--all", "--repo", url, "--json", env=env)
    assert verified.code == 11, verified.stderr
    problems = [p["problem"] for r in verified.json()["backups"] for p in r["problems"]]
    assert any(segments[1].name in p and segments[0].name in p for p in problems), problems


def test_a_damaged_segment_is_a_gap_in_the_timeline_not_a_repository_error(
    servers: ServerPool, tmp_path: Path
) -> None:
    """Issue 20, item 1 (segments): the restore that meets a damaged segment refuses before
    writing and records it; from then on the timeline shows it as a gap, points before it
    restore, incidents and the rest of the archive read on, and verify --all names it."""
    url = "file://" + str(tmp_path / "repo")
    repo = Repository.init(url)
    source = servers.new()
    src = source.client()
    src.shop.orders.insert_one({"_id": "seed"})
    assert lifeboat("backup", "--source", source.uri, "--repo", url).code == 0
    with archiving(repo, source.uri, segment_bytes=1 << 10):
        for i in range(40):
            src.shop.orders.insert_one({"_id": f"a{i}", "pad": "x" * 200})
        before = just_after(newest_entry(src)["ts"])
        expected = list(src.shop.orders.find().sort("_id", 1))
        for i in range(40):
            src.shop.orders.insert_one({"_id": f"c{i}", "pad": "y" * 200})
    deployment = single_deployment(repo)
    assert deployment is not None
    later = [s for s in list_segments(repo.storage, deployment) if s.start >= before]
    assert len(later) >= 3, "segments after the restore point, with others on both sides"
    victim = later[len(later) // 2]
    path = tmp_path / "repo" / victim.key
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0x20
    path.write_bytes(bytes(body))

    target = servers.new()
    met = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", url)
    assert met.code == 7 and victim.key in met.stderr and "lifeboat repair" in met.stderr, met.stderr
    assert set(target.client().list_database_names()) <= {"admin", "config", "local"}

    timeline = lifeboat("timeline", "--repo", url, "--json")
    assert timeline.code == 0, timeline.stderr
    described = timeline.json()
    assert [d["key"] for d in described["damaged_segments"]] == [victim.key]
    assert [(g["start"], g["end"]) for g in described["gaps"]] == [(to_str(victim.start), to_str(victim.end))]
    assert lifeboat("incidents", "--repo", url).code == 0
    restored = lifeboat("restore", "--to", to_str(before), "--target", target.uri, "--repo", url)
    assert restored.code == 0, restored.stderr
    assert list(target.client().shop.orders.find().sort("_id", 1)) == expected
    latest = servers.new()
    assert lifeboat("restore", "--to", "latest", "--target", latest.uri, "--repo", url).code == 0
    got = list(latest.client().shop.orders.find().sort("_id", 1))
    after = [d["_id"] for d in got if d["_id"].startswith("c")]
    assert [d for d in got if not d["_id"].startswith("c")] == expected
    assert sorted(after) == sorted(f"c{i}" for i in range(len(after))) and len(after) < 40  # up to the gap
    verified = lifeboat("verify", "--all", "--repo", url, "--json")
    assert verified.code == 11
    assert [p["object"] for r in verified.json()["backups"] for p in r["problems"]] == [victim.key]


def test_the_daily_read_back_finds_silent_damage_and_the_check_names_it(
    servers: ServerPool, tmp_path: Path
) -> None:
    """Issue 20 (also): ``verify --sample`` reads today's share back; damage it finds is
    recorded, and the ``repository`` check is critical naming the object until it is repaired
    (here, by deleting the backup that held it)."""
    repo = Repository.init("file://" + str(tmp_path / "repo"))
    source = servers.new()
    src = source.client()
    for c in range(30):  # many small objects: a share of them is a handful
        src.shop[f"c{c}"].insert_many([{"_id": n, "c": c} for n in range(20)])
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nurl = "{repo.url}"\n')
    backup = lifeboat("--config", str(plan), "backup", "--json")
    assert backup.code == 0, backup.stderr

    first = lifeboat("--config", str(plan), "verify", "--sample", "--json")
    assert first.code == 0, first.stderr
    read = first.json()
    assert 0 < read["checked"] < read["objects"], read
    checks = lifeboat("--config", str(plan), "check", "--json").json()["checks"]
    assert next(c for c in checks if c["id"] == "repository")["status"] == "ok"

    # Damage an object that today's share reads (the share picks by key: find one).
    day = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
    manifest = repo.resolve("latest")
    chosen = [f.key for f in manifest.all_files() if todays(f.key, read["share"], day)]
    assert chosen, "today's share reads at least one object of the backup"
    path = tmp_path / "repo" / chosen[0]
    body = bytearray(path.read_bytes())
    body[-1] ^= 0x01
    path.write_bytes(bytes(body))

    found = lifeboat("--config", str(plan), "verify", "--sample", "--json")
    assert found.code == 11
    assert list(found.json()["problems"]) == [chosen[0]] and list(found.json()["damaged"]) == [chosen[0]]
    checked = lifeboat("--config", str(plan), "check", "--json")
    repository = next(c for c in checked.json()["checks"] if c["id"] == "repository")
    assert repository["status"] == "critical" and chosen[0] in repository["finding"], repository
    assert lifeboat("--config", str(plan), "delete", manifest.backup_id, "--force").code == 0
    cleared = lifeboat("--config", str(plan), "check", "--json")
    assert next(c for c in cleared.json()["checks"] if c["id"] == "repository")["status"] != "critical"
