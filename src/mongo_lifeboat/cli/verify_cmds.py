"""verify, compare."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from ..catalog.history import deployments
from ..child_documents import SampleDocument
from ..errors import NotEqual, UsageError, VerificationFailed
from ..mongo.client import connect, describe
from ..mongo.nsmap import NamespaceMap
from ..repo.damage import reconcile
from ..repo.integrity import VerifyReport, verify_backup
from ..repo.repository import Repository
from ..session import Session
from ..session.repositories import open_repository
from ..verify.compare import compare as compare_summaries
from ..verify.compare import summarize
from ..verify.integrity import verify_segments
from ..verify.sampling import sample as sample_repository
from ..verify.sampling import share_of
from .options import app, human_bytes, json_option, repo_option, warn_skipped_damage


@click.command()
@click.argument("backup_id", required=False)
@click.option("--all", "all_backups", is_flag=True, help="Verify every backup.")
@click.option(
    "--sample",
    is_flag=True,
    help="Read back today's share of every object ([sampling]; the agent runs it daily).",
)
@repo_option
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=4, help="Objects checked in parallel.")
@json_option
@app
def verify(
    ctx: Session, backup_id: str | None, all_backups: bool, sample: bool, repo: str | None, jobs: int
) -> None:
    """Re-read every object of a backup (default: latest): size, sha256, BSON.

    With --all: every backup, and every archived oplog segment with the chain between them.
    With --sample: today's share of all of them (every object within [sampling] every)."""
    if sum(map(bool, (backup_id, all_backups, sample))) > 1:
        raise UsageError("give one of: a backup id, --all, --sample")
    out = ctx.output
    repository = open_repository(ctx, repo)
    if sample:
        _sample(ctx, repository, jobs)
        return
    listings = repository.list_backups()
    if all_backups:
        manifests = [b.manifest for b in listings if b.manifest is not None]
        incomplete = [b.backup_id for b in listings if b.manifest is None and not b.damaged]
    else:
        manifests = [repository.resolve(backup_id or "latest")]
        warn_skipped_damage(ctx, repository, backup_id or "latest", manifests[0])
        incomplete = []

    # Each bad object is named once, in the result (stdout): not also as it is found.
    reports = [verify_backup(repository.storage, m, jobs) for m in manifests]
    for m, r in zip(manifests, reports, strict=True):  # what is damaged stays known (lifeboat repair)
        found = {p["object"]: p["problem"] for p in r.problems}
        reconcile(repository.storage, m.deployment, [f.key for f in m.all_files()], found)
    if all_backups:  # a damaged manifest is a bad object of its own; the rest is verified
        for b in listings:
            if b.damaged:
                report = VerifyReport(b.backup_id, objects=1)
                report.problems.append(
                    {
                        "object": f"{b.deployment_key}/backups/{b.backup_id}/manifest.json",
                        "problem": b.damaged,
                    }
                )
                reports.append(report)
    if all_backups:
        for deployment in deployments(repository):
            reports.append(verify_segments(repository.storage, deployment, jobs))
    bad = [r for r in reports if not r.ok]
    data: dict[str, Any] = {
        "ok": not bad,
        "backups": [
            {
                "backup_id": r.backup_id,
                "ok": r.ok,
                "objects": r.objects,
                "bytes": r.bytes,
                "documents": r.documents,
                "oplog_entries": r.oplog_entries,
                "problems": r.problems,
            }
            for r in reports
        ],
        "incomplete": incomplete,
    }

    def render() -> None:
        for r in reports:
            state = "ok" if r.ok else f"[red]{len(r.problems)} bad object(s)[/red]"
            out.say_marked(
                f"{r.backup_id}: {state} ({r.objects} objects, {human_bytes(r.bytes)}, {r.documents} documents, "
                f"{r.oplog_entries} oplog entries)"
            )
            for p in r.problems:  # the problem names its object, or is prefixed with it
                named = p["object"] in p["problem"]
                out.say(f"  {p['problem']}" if named else f"  {p['object']}: {p['problem']}")
        for b in incomplete:
            out.say(f"{b}: incomplete (never finished; not restorable)")

    out.result(data, render)
    if bad:
        raise VerificationFailed(
            f"{sum(len(r.problems) for r in bad)} bad object(s) in {len(bad)} backup(s)",
            "with a second repository: lifeboat repair --from URL; else restore another backup, "
            "and take a new one",
        )


def _sample(ctx: Session, repository: Repository, jobs: int) -> None:
    out = ctx.output
    settings = ctx.plan.sampling
    report = sample_repository(repository, share_of(settings.share, settings.every), jobs=jobs)

    def render() -> None:
        out.say(
            f"read back {report.checked} of {report.objects} objects ({human_bytes(report.bytes)}; "
            f"{report.share:.0%} a day, every object within {report.cycle_days} days)"
        )
        for key, problem in report.damaged.items():
            new = " (found now)" if key in report.problems else ""
            named = key in problem
            out.say_marked(f"  [red]damaged{new}[/red]: {escape(problem if named else f'{key}: {problem}')}")

    out.result(SampleDocument.of(report), render)
    if report.damaged:
        raise VerificationFailed(
            f"{len(report.damaged)} damaged object(s) in {repository.url}",
            "with a second repository: lifeboat repair --from URL; else restore another backup",
        )


@click.command()
@click.argument("uri_a")
@click.argument("uri_b")
@click.option(
    "--ns", "ns_patterns", multiple=True, metavar="PATTERN", help="Only these namespaces (wildcard *)."
)
@json_option
@app
def compare(ctx: Session, uri_a: str, uri_b: str, ns_patterns: tuple[str, ...]) -> None:
    """Compare two deployments: counts, content hashes, indexes, options, views."""
    out = ctx.output
    nsmap = NamespaceMap.build(include=ns_patterns) if ns_patterns else None
    a, b = connect(uri_a, role="A"), connect(uri_b, role="B")
    try:
        sa, sb = summarize(a, nsmap), summarize(b, nsmap)
    finally:
        a.close()
        b.close()
    diffs = compare_summaries(sa, sb)
    data = {
        "equal": not diffs,
        "a": describe(uri_a),
        "b": describe(uri_b),
        "namespaces": len(set(sa) | set(sb)),
        "differences": diffs,
        "collections": {
            ns: {"count": s.count, "hash": s.content_hash, "type": s.type} for ns, s in sa.items()
        },
    }

    def render() -> None:
        if not diffs:
            out.say(
                f"equal: {data['namespaces']} namespaces match (counts, content hashes, indexes, options)"
            )
        for d in diffs:
            out.say(f"  {d}")

    out.result(data, render)
    if diffs:
        raise NotEqual(f"{len(diffs)} difference(s) between {data['a']} and {data['b']}", "")
