"""Take a consistent base backup (DESIGN §3): member, bracket, parallel export, manifest last."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient

from .. import __version__
from ..ejson import to_ejson
from ..events import Reporter, Update, silent
from ..faults import crash_point
from ..mongo import members
from ..mongo.capabilities import version_and_fcv
from ..mongo.catalog import Skipped, SourceCollection, list_source_collections
from ..mongo.client import connect
from ..mongo.identity import read_identity
from ..mongo.topology import replica_set_name
from ..oplog import chain
from ..oplog.capture.sources import Capture, resolve
from ..oplog.segments import list_segments
from ..repo import layout
from ..repo.lease import Lease, Renewer
from ..repo.manifest import CollectionEntry, FileEntry, Manifest, OplogBracket, SkippedCollection
from ..repo.objects import ObjectWriter
from ..repo.repository import Repository
from ..timestamps import iso, to_str
from . import bracket
from .export import DEFAULT_CHUNK_BYTES, export_collection, write_collection_meta


@dataclass(frozen=True)
class BackupOptions:
    source_uri: str
    member: str = "auto"
    deployment: str | None = None  # the name in the repository; default: the replica set name
    jobs: int = 4
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    timeout_ms: int = 10_000
    capture: Capture = "oplog"  # where the bracket is read: as the plan's [deployment] capture


def _deployment_name(client: MongoClient[Any]) -> str:
    return replica_set_name(
        client.admin.command("hello"), "it has no oplog, so no consistent backup is possible"
    )


def _expect_from_previous(previous: list[Manifest], sources: list[SourceCollection]) -> None:
    """Sizes from the previous complete backup: progress totals and ETA without counting
    (a count is a full scan on some servers)."""
    if not previous:
        return
    by_ns = {c.ns: c for c in previous[-1].collections}
    for c in sources:
        if c.ns in by_ns:
            c.expected_documents, c.expected_bytes = by_ns[c.ns].documents, by_ns[c.ns].raw_bytes


def run_backup(repo: Repository, opts: BackupOptions, report: Reporter = silent) -> Manifest:
    emit = report
    started_wall = datetime.now(UTC)
    t0 = time.monotonic()
    cluster = connect(opts.source_uri, role="source", timeout_ms=opts.timeout_ms)
    try:
        deployment = opts.deployment or _deployment_name(cluster)
        chosen = members.choose(members.discover(cluster), opts.member)
    finally:
        cluster.close()
    client = members.member_client(opts.source_uri, chosen.host, serverSelectionTimeoutMS=opts.timeout_ms)
    try:
        return _backup_from_member(repo, client, deployment, chosen.host, opts, emit, started_wall, t0)
    finally:
        client.close()


def _backup_from_member(
    repo: Repository,
    client: MongoClient[Any],
    deployment: str,
    member_host: str,
    opts: BackupOptions,
    emit: Reporter,
    started_wall: datetime,
    t0: float,
) -> Manifest:
    server_version, fcv = version_and_fcv(client)
    identity = read_identity(client)
    # This deployment's complete backups, read once: the identity check and the progress totals.
    previous = [b.manifest for b in repo.list_backups() if b.manifest and b.manifest.deployment == deployment]
    # Never join another replica set's history because it shares this one's name.
    chain.check_source(
        client,
        identity,
        deployment,
        repo.storage,
        previous,
        list_segments(repo.storage, deployment),
    )
    backup_id = layout.new_backup_id(started_wall)
    while repo.backup_exists(deployment, backup_id):  # two backups in one second
        time.sleep(1.0)
        started_wall = datetime.now(UTC)
        backup_id = layout.new_backup_id(started_wall)
    # A running backup holds a lease, so list tells it from one that died, and cleanup
    # never removes a backup still being written.
    with Renewer(Lease(repo.storage, deployment, layout.backup_lease_name(backup_id))):
        storage = repo.storage

        source = resolve(opts.capture, client)
        anchor = source.anchor(client)
        skipped: list[Skipped] = []
        sources = list_source_collections(client, skipped)
        for s in skipped:
            emit(Update("backup", "notice", "skipped", s.reason, ns=s.ns))
        _expect_from_previous(previous, sources)
        total_docs = sum(c.expected_documents for c in sources)
        emit(Update("backup", "phase", "export", backup_id, total=total_docs))

        # The capture writes to a provisional key; the real name needs end_ts.
        capture_writer = ObjectWriter(
            storage, layout.bracket_key(deployment, backup_id, anchor.start_ts, anchor.start_ts)
        )
        capture = bracket.OplogCapture(client, source, anchor, capture_writer)
        capture.start()
        t_export = time.monotonic()
        try:
            entries = _export_all(client, storage, deployment, backup_id, sources, opts, emit)
            t_bracket = time.monotonic()
            capture.finish()
            capture.join_checked()
        except BaseException:
            capture.abort()
            capture.join()
            capture_writer.abandon()
            raise
        end_ts = capture.position
        capture_writer.key = layout.bracket_key(deployment, backup_id, anchor.start_ts, end_ts)
        oplog_file = capture_writer.commit()
        emit(Update("backup", "phase", "bracket", f"{capture.entries} {source.name} entries"))

        finished = datetime.now(UTC)
        phases = {
            "prepare": round(t_export - t0, 3),
            "export": round(t_bracket - t_export, 3),
            "bracket": round(time.monotonic() - t_bracket, 3),
        }
        manifest = Manifest(
            tool_version=__version__,
            backup_id=backup_id,
            deployment=deployment,
            member=member_host,
            server_version=server_version,
            fcv=fcv,
            started_at=iso(started_wall),
            finished_at=iso(finished),
            duration_s=round(time.monotonic() - t0, 3),
            start_ts=to_str(anchor.start_ts),
            end_ts=to_str(end_ts),
            collections=entries,
            phases=phases,
            identity=identity,
            skipped=[SkippedCollection(ns=s.ns, reason=s.reason) for s in skipped],
            end_entry_sha256=capture.end_digest,
            oplog=OplogBracket(
                start_ts=to_str(anchor.start_ts),
                end_ts=to_str(end_ts),
                entries=capture.entries,
                file=oplog_file,
                capture=source.name,
            ),
        )
        crash_point("before-manifest")
        repo.write_manifest(manifest)  # the commit point: only now is the backup complete
        emit(Update("backup", "phase", "committed", backup_id))
        return manifest


def _export_all(
    client: MongoClient[Any],
    storage: Any,
    deployment: str,
    backup_id: str,
    sources: list[SourceCollection],
    opts: BackupOptions,
    emit: Reporter,
) -> list[CollectionEntry]:
    def progress(ns: str, docs: int, raw: int) -> None:
        emit(Update("backup", "progress", "documents", ns=ns, done=docs, bytes=raw))

    def one(c: SourceCollection) -> CollectionEntry:
        files: list[FileEntry] = []
        if c.has_data:
            files = export_collection(
                client, storage, deployment, backup_id, c, chunk_bytes=opts.chunk_bytes, on_progress=progress
            )
        meta = write_collection_meta(
            storage, deployment, backup_id, c.db, c.name, c.type, c.options, c.indexes, c.uuid
        )
        entry = CollectionEntry(
            db=c.db,
            name=c.name,
            type=c.type,  # type: ignore[arg-type]
            uuid=c.uuid,
            options=to_ejson(c.options),
            indexes=[to_ejson(ix) for ix in c.indexes],
            documents=sum(f.documents for f in files),
            raw_bytes=sum(f.raw_bytes for f in files),
            files=files,
            meta=meta,
        )
        emit(
            Update(
                "backup",
                "notice",
                "collection-done",
                ns=c.ns,
                facts={"documents": entry.documents, "raw_bytes": entry.raw_bytes},
            )
        )
        return entry

    # Largest first (as last time), so one big collection does not start last and run alone.
    ordered = sorted(sources, key=lambda c: -c.expected_bytes)
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs), thread_name_prefix="lifeboat-export") as pool:
        results = list(pool.map(one, ordered))
    return sorted(results, key=lambda e: (e.db, e.name))


__all__ = ["BackupOptions", "run_backup"]
