"""Issue 22, item 5: backup, stream and point-in-time restore as a user holding only the
change-stream role the README gives (find and changeStream on every non-system collection,
listDatabases and serverStatus), on a SecantusDB started with ``--auth``.

SecantusDB enforces the role's grants (a write, ``usersInfo``, a read of ``config`` are
refused), but its wildcard resource also grants reads on ``local``, and it does not check the
cluster actions of ``replSetGetStatus`` and ``getParameter``. mongod refuses those to this
user, so a wire-level proxy (tests/support/privilege_proxy.py) refuses them as mongod does;
every other command reaches the real server.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import Timestamp
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.demo import workload
from mongo_lifeboat.embedded import ScratchServer
from mongo_lifeboat.oplog.reader import newest_ts
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.verify.compare import summarize

from ..support.cli import lifeboat
from ..support.data import assert_same
from ..support.privilege_proxy import PrivilegeProxy
from ..support.servers import ServerPool, kind
from ..support.stream_process import Stream
from ..support.waiting import wait_for

ROOT_PASSWORD, CAPTURE_PASSWORD = "root-pw-7f3a", "capture-pw-91c2"

# The README's role, as a command document (README, "Capture sources").
ROLE = {
    "createRole": "lifeboatChangeStream",
    "privileges": [
        {
            "resource": {"db": "", "collection": ""},
            "actions": ["find", "changeStream", "listCollections", "listIndexes"],
        },
        {"resource": {"cluster": True}, "actions": ["listDatabases", "serverStatus"]},
    ],
    "roles": [],
}


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[MongoClient[dict[str, object]], PrivilegeProxy]]:
    """(a root client of the real server, the proxy the capture user connects through)."""
    if kind() != "secantus":
        pytest.skip(f"starts SecantusDB with --auth itself; the test server is {kind()}")
    data = tmp_path / "data"
    with ScratchServer(data_dir=data) as plain:  # users are provisioned before auth is on (mTLS-gated)
        admin = MongoClient(plain.uri).admin
        admin.command("createUser", "root", pwd=ROOT_PASSWORD, roles=["root"])
        admin.command(ROLE)
        admin.command("createUser", "lb-capture", pwd=CAPTURE_PASSWORD, roles=["lifeboatChangeStream"])
    with ScratchServer(["--auth"], data_dir=data, private=False) as server:
        root: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://root:{ROOT_PASSWORD}@127.0.0.1:{server.port}/?directConnection=true&authSource=admin"
        )
        proxy = PrivilegeProxy(server.port)
        try:
            yield root, proxy
        finally:
            proxy.close()
            root.close()


def test_backup_stream_undo_drill_and_restore_with_only_the_change_stream_role(
    guarded: tuple[MongoClient[dict[str, object]], PrivilegeProxy],
    servers: ServerPool,
    repo: Repository,
    tmp_path: Path,
) -> None:
    root, proxy = guarded
    set_name = str(root.admin.command("hello")["setName"])
    uri = proxy.uri("lb-capture", CAPTURE_PASSWORD).replace("replicaSet=rs0", f"replicaSet={set_name}")
    workload.seed(root, 300)
    # The role is what the server enforces: no write, no user administration.
    with MongoClient(uri) as capture_user:
        with pytest.raises(OperationFailure) as refused:
            capture_user.shop.orders.insert_one({"x": 1})
        assert refused.value.code == 13
    url = repo.url

    backup = lifeboat("backup", "--source", uri, "--repo", url, "--capture", "auto", "--json")
    assert backup.code == 0, backup.stderr
    assert "change-stream entries" in backup.stderr  # auto found the oplog refused
    writer = workload.Writer(root, 300, rng_seed=5, max_ops=200).start()
    archiver = Stream(uri, url, capture="auto").started()
    writer.ops_done.wait(120)
    writer.stop()
    before = summarize(root)["shop.orders"]
    # The accident, in one transaction (one entry in the stream, found as one incident).
    with root.start_session() as session, session.start_transaction():
        deleted = root.shop.orders.delete_many({"qty": {"$lt": 40}}, session=session).deleted_count
    root.shop.Customers.insert_one({"_id": "written after the accident"})
    newest = newest_ts(root)
    wait_for(lambda: _archived_to(repo) >= newest, "the archiver to catch up", timeout=120)

    found = lifeboat("incidents", "--repo", url, "--json")
    incident = next(i for i in found.json() if i["kind"] == "bulk-delete")
    assert incident["ns"] == "shop.orders" and incident["count"] == deleted > 0
    # undo follows the live history past the archive from the change stream (the oplog is
    # refused to every user behind the proxy, root included).
    admin_uri = proxy.uri("root", ROOT_PASSWORD).replace("replicaSet=rs0", f"replicaSet={set_name}")
    with _traffic(root):  # other writes go on while the undo runs
        undone = lifeboat("undo", incident["id"], "--apply", "--target", admin_uri, "--repo", url, "--json")
    assert undone.code == 0, undone.stderr
    assert undone.json()["written"] == deleted and undone.json()["conflicts"] == []
    after = summarize(root)["shop.orders"]
    assert (after.count, after.content_hash) == (before.count, before.content_hash)
    newest = newest_ts(root)
    wait_for(lambda: _archived_to(repo) >= newest, "the archiver to archive the undo", timeout=120)
    stopped = archiver.stop()
    assert "(capture: change-stream)" in stopped
    # SecantusDB refuses this user killCursors: the driver's background error is no traceback.
    assert "Traceback" not in stopped and "killCursors" not in stopped

    # A drill whose proof reads the source as this user: the live history from the stream.
    drilled = lifeboat("drill", "--source", uri, "--repo", url, "--json")
    assert drilled.code == 0, drilled.stderr
    assert drilled.json()["verdict"] == "pass" and drilled.json()["documents_compared"] > 0

    # check measures the change stream's history window, not the oplog's (refused here).
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[deployment]\nsource = "{uri}"\ncapture = "auto"\n[[repository]]\nurl = "{url}"\n')
    checked = lifeboat("--config", str(plan), "check", "--json")
    window = next(c for c in checked.json()["checks"] if c["id"] == "oplog-window")
    assert window["finding"].startswith("the change stream's history is too young"), window
    assert 0 < window["value"]["window_s"] < 600 and window["value"]["capture"] == "change-stream"

    target = servers.new()
    restored = lifeboat("restore", "--to", "latest", "--target", target.uri, "--repo", url)
    assert restored.code == 0, restored.stderr
    assert_same(target.client(), root)
    # Everything went through the proxy: the oplog reads and cluster actions mongod would refuse
    # were asked for and refused, and the capture went on without them.
    assert "local.find" in proxy.refused
    assert "admin.replSetGetStatus" in proxy.refused
    assert CAPTURE_PASSWORD not in backup.stderr + backup.stdout + restored.stderr + drilled.stdout


@contextlib.contextmanager
def _traffic(client: MongoClient[dict[str, object]]) -> Iterator[None]:
    """Inserts into another collection until the block ends (at least one, all checked)."""
    stop = threading.Event()

    errors: list[BaseException] = []

    def write() -> None:
        i = 0
        try:
            while i == 0 or not stop.is_set():
                client.shop.traffic.insert_one({"_id": f"during the undo {i}"})
                i += 1
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors


def _archived_to(repo: Repository) -> Timestamp:
    ends = [s.end for s in load_history(repo).segments]
    return max(ends, default=Timestamp(0, 0))
