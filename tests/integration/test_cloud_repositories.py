"""Acceptance (issues 9 and 23): S3, Google Cloud Storage and Azure Blob repositories, against a
real S3 endpoint (moto's server) and the clouds' own emulators (fake-gcs-server, Azurite), all on
loopback: the whole path equals the source by content hashes, requests stay constant as the archive grows, an unreachable store is one clear
error within the deadline, and object retention is asked for and honoured where it is set."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.emulators import azure_container, azure_server, gcs_bucket, gcs_server
from ..support.s3 import make_bucket, s3_server
from ..support.servers import SeededSource, ServerPool
from ..support.waiting import wait_for

CLOUDS = ["gcs", "azure"]


_S3: list[str] = []  # the endpoint of the module's S3 server, while it runs


@pytest.fixture(scope="module")
def emulators() -> Iterator[None]:
    with s3_server() as endpoint, gcs_server(), azure_server():
        _S3.append(endpoint)
        yield
        _S3.clear()


def new_repo_url(cloud: str) -> str:
    """A bucket or container of its own, empty."""
    name = "lb-" + uuid.uuid4().hex[:12]
    if cloud == "s3":  # (moto keeps its state per process, whichever server serves it)
        make_bucket(_S3[0], name)
        return f"s3://{name}/lifeboat/prod"
    if cloud == "gcs":
        gcs_bucket(name)
        return f"gs://{name}/lifeboat/prod"
    azure_container(name)
    return f"azure://{name}/lifeboat/prod"


@pytest.fixture(params=["s3", *CLOUDS])
def cloud_repo(request: pytest.FixtureRequest, emulators: None) -> str:
    return new_repo_url(request.param)


_S3_CALLS = {"PutObject": "PUT", "ListObjectsV2": "GET", "GetObject": "GET", "HeadObject": "HEAD"}


class Requests:
    """Every request this process makes to the store, as (method, path): the store's side of the
    bill. GCS and Azure's libraries send theirs through requests; boto3 names each S3 call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, repo: Repository) -> None:
        self.calls: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []
        inner = getattr(repo.storage, "inner", repo.storage)  # the backend under the retries
        if hasattr(inner, "client") and hasattr(inner.client, "meta"):  # boto3
            inner.client.meta.events.register("before-call.s3", self._s3_call)
            return
        send = requests.Session.request

        def counted(session: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.calls.append((method.upper(), url.split("?", 1)[0]))
            self.headers.append({k.lower(): v for k, v in (kwargs.get("headers") or {}).items()})
            return send(session, method, url, *args, **kwargs)

        monkeypatch.setattr(requests.Session, "request", counted)

    def _s3_call(self, model: Any, **_: Any) -> None:
        self.calls.append(
            (_S3_CALLS.get(model.name, model.name), "/o" if model.name.startswith("List") else "")
        )

    def kinds(self, since: int = 0, until: int | None = None) -> list[str]:
        """Each request as a kind that names no object: the method, and whether it listed."""
        return [f"{m} list" if _is_listing(m, path) else m for m, path in self.calls[since:until]]


def _write(cloud: str) -> str:
    """How each store is written an object that fits one request (GCS: a multipart POST)."""
    return "POST" if cloud == "gcs" else "PUT"


def _is_listing(method: str, path: str) -> bool:
    """GCS lists at .../b/BUCKET/o; Azure at http://host/ACCOUNT/CONTAINER; S3's ListObjectsV2."""
    return method == "GET" and (path.endswith("/o") or 0 < path.count("/") <= 4)


def test_backup_archive_and_point_in_time_restore(
    servers: ServerPool, seeded_source: SeededSource, cloud_repo: str
) -> None:
    source = seeded_source(200)
    src = source.client()
    assert lifeboat("init", "--repo", cloud_repo).code == 0
    again = lifeboat("init", "--repo", cloud_repo, "--json")
    assert again.code == 0 and again.json()["created"] is False
    backup = lifeboat("backup", "--source", source.uri, "--repo", cloud_repo, "--json")
    assert backup.code == 0, backup.stderr
    repo = Repository.open(cloud_repo)
    with archiving(repo, source.uri):
        src.shop.orders.insert_many([{"_id": f"late-{i}", "qty": i} for i in range(50)])
        src.shop.orders.delete_many({"qty": {"$lt": 10}})
        src.shop.Customers.update_many({"grp": 2}, {"$set": {"moved": True}})
    history = load_history(repo)
    assert history.segments and history.timeline.windows
    verify = lifeboat("verify", "--all", "--repo", cloud_repo)
    assert verify.code == 0, verify.stdout + verify.stderr
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", cloud_repo, "--json")
    assert res.code == 0, res.stderr
    assert res.json()["oplog_entries"] > 0
    assert_same(src, target.client())


@pytest.mark.parametrize("cloud", CLOUDS)
def test_an_unreachable_repository_is_one_clear_error_within_its_deadline(cloud: str, tmp_path: Path) -> None:
    url = "gs://nowhere/x" if cloud == "gcs" else "azure://nowhere/x"
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[[repository]]\nurl = "{url}"\ntimeout_s = 3\n')
    dead = "http://127.0.0.1:9"  # nothing listens on the discard port
    env = {
        "STORAGE_EMULATOR_HOST": dead,
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=a;"
        f"AccountKey=c2VjcmV0LWtleS1uZXZlci1wcmludGVk;BlobEndpoint={dead}/a;",
    }
    started = time.monotonic()
    res = lifeboat("--config", str(plan), "list", env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert res.code == 5, res.stderr
    assert url in res.error_lines[0] and "failed" in res.error_lines[0]
    assert "c2VjcmV0" not in res.stderr  # the account key is never printed
    assert elapsed < 60, f"a 3 s deadline took {elapsed:.0f} s"


@pytest.mark.parametrize("cloud", ["s3", *CLOUDS])
def test_listing_the_archive_costs_the_same_requests_however_many_segments(
    cloud: str, emulators: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment's name carries its facts: listing 400 segments is one listing request, as
    listing 10 is (a listing page holds 1,000 keys), with no request per object."""
    from bson import Timestamp

    from mongo_lifeboat.oplog.segments import list_segments
    from mongo_lifeboat.repo import layout
    from mongo_lifeboat.repo.objects import ObjectWriter

    repo = Repository.init(new_repo_url(cloud))

    def segment(i: int) -> None:
        start, end = Timestamp(1_800_000_000 + i, 1), Timestamp(1_800_000_001 + i, 1)

        def name(sha: str, size: int) -> str:
            return layout.segment_key(
                "rs0", start, end, layout.SegmentFacts(1, size, sha, i * 1000, i * 1000 + 5)
            )

        writer = ObjectWriter(repo.storage, "")
        writer.write(b"\x05\x00\x00\x00\x00", 1)
        writer.commit(meta={"entries": "1"}, name=name)

    counted = Requests(monkeypatch, repo)
    for i in range(10):
        segment(i)
    assert counted.kinds() == [_write(cloud)] * 10  # one write per segment
    requests_at: dict[int, list[str]] = {}
    for total, written in ((10, 0), (400, 10)):
        for i in range(written, total):
            segment(i)
        before = len(counted.calls)
        segments = list_segments(repo.storage, "rs0")
        assert len(segments) == total and all(s.sha256 and s.entries == 1 and s.last_wall for s in segments)
        requests_at[total] = counted.kinds(before)
    assert requests_at[10] == requests_at[400] == ["GET list"]


@pytest.mark.parametrize("cloud", ["s3", *CLOUDS])
def test_the_archiver_writes_once_per_segment(
    cloud: str, emulators: None, servers: ServerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request the archiver makes, counted at each committed segment: one write per
    segment, as many early in the archive as later (no listing, no metadata, no read)."""
    source = servers.new()
    src = source.client()
    repo = Repository.init(new_repo_url(cloud))
    counted = Requests(monkeypatch, repo)
    at_segment: list[int] = []
    with archiving(
        repo, source.uri, segment_seconds=3600, segment_bytes=1, state_s=3600, lease_ttl_s=36_000,
        wait_started=True,
        on_update=lambda u: at_segment.append(len(counted.calls)) if u.name == "segment" else None,
    ):  # fmt: skip
        for i in range(4):
            src.shop.ticks.insert_many([{"_id": i * 100 + j} for j in range(100)])
        wait_for(lambda: len(at_segment) >= 400, "400 segments", timeout=300)
    assert counted.kinds(at_segment[9], at_segment[59]) == [_write(cloud)] * 50
    assert counted.kinds(at_segment[339], at_segment[389]) == [_write(cloud)] * 50


def test_gcs_object_retention_is_set_on_what_never_changes_and_prune_and_delete_skip_it(
    seeded_source: SeededSource, emulators: None, tmp_path: Path
) -> None:
    """fake-gcs-server stores an object's retention but does not enforce it (GCS does): what is
    tested is that Lifeboat asks for it on backups and segments only, reads it back, and that
    prune and delete skip what it protects."""
    from google.cloud import storage as gcs

    url = new_repo_url("gcs")
    bucket = url.split("/")[2]
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[[repository]]\nurl = "{url}"\nobject_lock_days = 1\nkeep_last = 1\n')
    source = seeded_source(30)
    run = ["--config", str(plan)]
    assert lifeboat(*run, "init").code == 0
    first = lifeboat(*run, "backup", "--source", source.uri, "--json")
    assert first.code == 0, first.stderr
    blobs = {b.name: b for b in gcs.Client().list_blobs(bucket, prefix="lifeboat/prod/")}
    backup_objects = [b for name, b in blobs.items() if f"/backups/{first.json()['backup_id']}/" in name]
    assert backup_objects
    for b in backup_objects:
        assert b.retention.mode == "Unlocked" and b.retention.retain_until_time > datetime.now(UTC)
    assert blobs["lifeboat/prod/lifeboat.json"].retention.mode is None  # the marker must change
    second = lifeboat(*run, "backup", "--source", source.uri, "--json")
    assert second.code == 0, second.stderr
    pruned = lifeboat(*run, "prune", "--json")
    assert pruned.code == 0, pruned.stderr
    assert pruned.json()["deleted_backups"] == []
    assert pruned.json()["locked"][0]["backup_id"] == first.json()["backup_id"]
    refused = lifeboat(*run, "delete", first.json()["backup_id"], "--force")
    assert refused.code == 26 and "until" in refused.error_lines[0], refused.stderr
    listed = {b["backup_id"] for b in lifeboat(*run, "list", "--json").json()["backups"]}
    assert {first.json()["backup_id"], second.json()["backup_id"]} <= listed


def test_three_providers_mirrored_caught_up_read_past_damage_and_copied(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    """One S3 (moto), one GCS and one Azure repository in one plan: the backup and the archive go
    to all three; Azure stopped during archiving is caught up when it comes back; a damaged
    object in the first is read from the next; check counts three regions; copy from Azure to a
    new GCS bucket verifies."""
    from mongo_lifeboat.config import RepositorySettings
    from mongo_lifeboat.oplog.segments import list_segments
    from mongo_lifeboat.repo.mirror import Member

    with s3_server() as endpoint, gcs_server(), azure_server() as azurite:
        bucket = "lb-" + uuid.uuid4().hex[:12]
        s3 = make_bucket(endpoint, bucket)
        urls = {"aws": f"s3://{bucket}/prod", "gcp": new_repo_url("gcs"), "azure": new_repo_url("azure")}
        regions = {"aws": "eu-west-1", "gcp": "us-east1", "azure": "westeurope"}
        source = seeded_source(150)
        src = source.client()
        plan = tmp_path / "plan.toml"
        plan.write_text(
            f'[deployment]\nsource = "{source.uri}"\n'
            + "".join(
                f'[[repository]]\nname = "{n}"\nurl = "{u}"\nregion = "{regions[n]}"\ntimeout_s = 2\n'
                for n, u in urls.items()
            )
        )
        run = ["--config", str(plan)]
        for url in urls.values():
            assert lifeboat("init", "--repo", url).code == 0
        backup = lifeboat(*run, "backup", "--json")
        assert backup.code == 0, backup.stderr
        assert set(backup.json()["repositories"].values()) == {"complete"}

        opened = {n: Repository.open(u, RepositorySettings(url=u, timeout_s=2)) for n, u in urls.items()}
        repo = Repository.mirrored([Member(n, r.storage) for n, r in opened.items()], opened["aws"].info)
        assert repo.mirror is not None
        azure = repo.mirror.members[2]
        with archiving(repo, source.uri, segment_bytes=2 << 10) as stats:
            src.shop.orders.insert_many(
                [{"_id": f"before-{i}", "qty": i, "pad": "a" * 100} for i in range(40)]
            )
            wait_for(lambda: stats.segments >= 2, "segments in all three")
            azurite.stop()
            src.shop.orders.insert_many(
                [{"_id": f"while-down-{i}", "qty": i, "pad": "b" * 100} for i in range(80)]
            )
            wait_for(lambda: azure.down is not None, "Azure to be marked down")
            written = stats.segments
            wait_for(lambda: stats.segments >= written + 2, "segments while Azure is down")
            azurite.start()
            wait_for(lambda: azure.down is None, "Azure to be caught up", timeout=120)
            src.shop.orders.insert_many(
                [{"_id": f"after-{i}", "qty": i, "pad": "c" * 100} for i in range(40)]
            )
            wait_for(lambda: stats.segments >= written + 4, "segments after Azure came back")
        deployment = backup.json()["deployment"]
        keys = {n: [s.key for s in list_segments(r.storage, deployment)] for n, r in opened.items()}
        assert keys["aws"] and keys["gcp"] == keys["aws"] and keys["azure"] == keys["aws"]

        checked = lifeboat(*run, "check", "--json")
        cross = next(c for c in checked.json()["checks"] if c["id"] == "cross-region")
        assert cross["status"] == "ok" and cross["value"] == [
            "azure:westeurope",
            "gs:us-east1",
            "s3:eu-west-1",
        ]

        # A damaged object in the first repository: the restore reads it from the next.
        manifest = opened["aws"].resolve(backup.json()["backup_id"])
        victim = manifest.collections[0].files[0].key
        s3.put_object(Bucket=bucket, Key=f"prod/{victim}", Body=b"ransomed")
        target = servers.new()
        res = lifeboat(*run, "restore", "--to", "latest", "--target", target.uri)
        assert res.code == 0, res.stderr
        assert (
            f"{victim} in repository aws cannot be used" in res.stderr and "reading it from gcp" in res.stderr
        )
        assert_same(src, target.client())

        elsewhere = new_repo_url("gcs")
        copied = lifeboat("copy", "--from", urls["azure"], "--to", elsewhere, "--json")
        assert copied.code == 0, copied.stderr
        assert copied.json()["segments"] == len(keys["azure"])
        verified = lifeboat("verify", "--all", "--repo", elsewhere)
        assert verified.code == 0, verified.stdout + verified.stderr


def test_azure_immutability_is_asked_for_on_what_never_changes(
    seeded_source: SeededSource, emulators: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azurite accepts version-level immutability but neither stores nor enforces it (Azure
    does): what is tested is that every write of a backup object asks for it, until a day from
    now, and that the objects that must change (the marker, leases) never do."""
    from mongo_lifeboat.backup.service import BackupOptions, run_backup
    from mongo_lifeboat.config import RepositorySettings

    url = new_repo_url("azure")
    settings = RepositorySettings(url=url, object_lock_days=1)
    source = seeded_source(30)
    repo = Repository.init(url, settings)
    counted = Requests(monkeypatch, repo)
    manifest = run_backup(repo, BackupOptions(source.uri))
    writes = [
        (path, h) for (method, path), h in zip(counted.calls, counted.headers, strict=True) if method == "PUT"
    ]
    locked = [h for path, h in writes if f"/backups/{manifest.backup_id}/" in path]
    unlocked = [h for path, h in writes if path.endswith("/lifeboat.json") or "/locks/" in path]
    assert locked and unlocked
    for h in locked:
        assert h["x-ms-immutability-policy-mode"] == "Unlocked"
        until = datetime.strptime(h["x-ms-immutability-policy-until-date"], "%a, %d %b %Y %H:%M:%S %Z")
        assert 23 * 3600 < (until.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() <= 24 * 3600
    assert not [h for h in unlocked if "x-ms-immutability-policy-mode" in h]


def test_init_makes_a_missing_azure_container_and_says_what_must_exist_elsewhere(emulators: None) -> None:
    """Probe of issue 35: a container is a folder, made by ``init``; a bucket is the owner's
    (region, versioning, Object Lock at creation), named as missing with what to do."""
    container = "lb-" + uuid.uuid4().hex[:12]
    made = lifeboat("init", "--repo", f"azure://{container}/lifeboat/prod", "--json")
    assert made.code == 0, made.stderr
    assert made.json()["created"] is True
    again = lifeboat("init", "--repo", f"azure://{container}/lifeboat/prod", "--json")
    assert again.code == 0 and again.json()["created"] is False
    for url, says in (
        (f"s3://lb-missing-{uuid.uuid4().hex[:8]}/x", "does not exist"),
        (f"gs://lb-missing-{uuid.uuid4().hex[:8]}/x", "not found"),
    ):
        res = lifeboat("init", "--repo", url)
        assert res.code == 5, (url, res.stderr)
        assert says in res.error_lines[0] and "create it first" in res.error_lines[1], res.stderr
