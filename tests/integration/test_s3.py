"""What only S3 repositories have, against a real S3 endpoint (moto's server) on loopback: Object
Lock, the plan's endpoint, boto's request counts. (Backup, archiving and point-in-time restore
through S3, GCS and Azure: test_cloud_repositories.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.repo.repository import Repository

from ..support.archiving import archiving
from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.s3 import make_bucket, s3_server
from ..support.servers import SeededSource, ServerPool


@pytest.fixture
def s3_repo() -> Iterator[str]:
    # moto keeps its state per process, whichever server serves it: a bucket of its own each time.
    bucket = "backups-" + uuid.uuid4().hex[:12]
    with s3_server() as endpoint:
        make_bucket(endpoint, bucket)
        yield f"s3://{bucket}/lifeboat/prod"


def test_an_unreachable_s3_repository_is_one_clear_error(servers: ServerPool) -> None:
    res = lifeboat(
        "list", "--repo", "s3://nowhere/x",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "2"},
        timeout=120,
    )  # fmt: skip
    assert res.code == 5, res.stderr
    assert "s3://nowhere/x" in res.error_lines[0]


def test_the_plan_names_the_s3_endpoint_of_its_repository(s3_repo: str, tmp_path: Path) -> None:
    import os

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[[repository]]\nurl = "{s3_repo}"\nendpoint_url = "{endpoint}"\nregion = "us-east-1"\n')
    # The environment points elsewhere: the repository's own setting wins.
    res = lifeboat("--config", str(plan), "init", "--json", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert res.code == 0, (res.stderr, plan.read_text())
    assert res.json()["created"] is True


def test_object_lock_protects_backups_and_prune_skips_them(
    servers: ServerPool, seeded_source: SeededSource, tmp_path: Path
) -> None:
    with s3_server() as endpoint:
        bucket = "locked-" + uuid.uuid4().hex[:12]
        client = make_bucket(endpoint, bucket, object_lock=True)
        url = f"s3://{bucket}/prod"
        plan = tmp_path / "plan.toml"
        plan.write_text(f'[[repository]]\nurl = "{url}"\nobject_lock_days = 1\nkeep_last = 1\n')
        source = seeded_source(30)
        run = ["--config", str(plan)]
        assert lifeboat(*run, "init").code == 0
        first = lifeboat(*run, "backup", "--source", source.uri, "--json")
        assert first.code == 0, first.stderr
        key = next(
            o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="prod/")["Contents"]
            if "/backups/" in o["Key"] and o["Key"].endswith(".bson.zst")
        )  # fmt: skip
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        version = head["VersionId"]
        # Deleting or overwriting the stored version fails at the store, whoever asks.
        with pytest.raises(ClientError, match="AccessDenied"):
            client.delete_object(Bucket=bucket, Key=key, VersionId=version)
        client.put_object(Bucket=bucket, Key=key, Body=b"ransom")
        original = client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
        assert original != b"ransom" and len(original) == head["ContentLength"]
        # Leases and state are not locked: they must change.
        assert "ObjectLockMode" not in client.head_object(Bucket=bucket, Key="prod/lifeboat.json")
        second = lifeboat(*run, "backup", "--source", source.uri, "--json")
        assert second.code == 0, second.stderr
        res = lifeboat(*run, "prune", "--json")
        assert res.code == 0, res.stderr
        out = res.json()
        assert out["deleted_backups"] == []
        assert out["locked"][0]["backup_id"] == first.json()["backup_id"]
        listed = lifeboat(*run, "list", "--json")
        assert {b["backup_id"] for b in listed.json()["backups"]} >= {
            first.json()["backup_id"],
            second.json()["backup_id"],
        }
        # delete does what prune does: a locked backup is refused, --force or not, and stays listed
        # (issue 20, item 4: no delete marker hides it).
        for force in ([], ["--force"]):
            refused = lifeboat(*run, "delete", first.json()["backup_id"], *force)
            assert refused.code == 26, refused.stderr
            assert "under Object Lock until" in refused.error_lines[0]
        listed = lifeboat(*run, "list", "--json")
        assert first.json()["backup_id"] in {b["backup_id"] for b in listed.json()["backups"]}
        markers = client.list_object_versions(Bucket=bucket, Prefix="prod/").get("DeleteMarkers", [])
        assert not [m for m in markers if f"/backups/{first.json()['backup_id']}/" in m["Key"]]

        # Hidden anyway, as a delete from the console or another tool does (delete markers over
        # the locked versions): undelete brings it back, verified, and it restores.
        hidden = second.json()["backup_id"]  # (the first's newest version is the "ransom" above)
        keys = [
            o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="prod/")["Contents"]
            if f"/backups/{hidden}/" in o["Key"]
        ]  # fmt: skip
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        assert hidden not in {b["backup_id"] for b in lifeboat(*run, "list", "--json").json()["backups"]}
        back = lifeboat(*run, "undelete", hidden, "--json")
        assert back.code == 0, back.stderr
        assert back.json()["objects_back"] == len(keys) and back.json()["ok"]
        assert hidden in {b["backup_id"] for b in lifeboat(*run, "list", "--json").json()["backups"]}
        target = servers.new()
        assert lifeboat(*run, "restore", hidden, "--target", target.uri).code == 0
        assert_same(target.client(), source.client())
        assert lifeboat(*run, "undelete", hidden).code == 6  # nothing hidden any more


def test_copy_seeds_an_s3_repository_verified_and_it_restores(
    servers: ServerPool, seeded_source: SeededSource, s3_repo: str, tmp_path: Path
) -> None:
    source = seeded_source(100)
    src = source.client()
    local = Repository.init("file://" + str(tmp_path / "local"))
    assert lifeboat("backup", "--source", source.uri, "--repo", local.url).code == 0
    with archiving(local, source.uri):
        src.shop.orders.insert_many([{"_id": f"late-{i}", "qty": i} for i in range(30)])
    copied = lifeboat("copy", "--from", local.url, "--to", s3_repo, "--json")
    assert copied.code == 0, copied.stderr
    first = copied.json()
    assert len(first["backups"]) == 1 and first["segments"] == len(load_history(local).segments) > 0
    again = lifeboat("copy", "--from", local.url, "--to", s3_repo, "--json").json()
    assert again["backups"] == [] and again["segments"] == 0 and again["already_there"] == first["backups"]
    target = servers.new()
    res = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", s3_repo)
    assert res.code == 0, res.stderr
    assert_same(src, target.client())

    # A damaged object stops the copy, named, and the target gets no manifest for that backup.
    assert lifeboat("backup", "--source", source.uri, "--repo", local.url).code == 0
    newest = load_history(local).manifests[-1]
    victim = tmp_path / "local" / newest.collections[0].files[0].key
    victim.write_bytes(victim.read_bytes()[:-3] + b"xyz")
    bad = lifeboat("copy", "--from", local.url, "--to", s3_repo)
    assert bad.code == 7 and newest.collections[0].files[0].key in bad.error_lines[0]
    assert newest.backup_id not in {
        b.backup_id for b in Repository.open(s3_repo).list_backups() if b.complete
    }
