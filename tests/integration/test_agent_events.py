"""The agent learns what its children did from their events pipe (``--events-fd``), as data:
an archiver's gap arrives as an outcome carrying the gap's positions, never as a line of text."""

from __future__ import annotations

from pathlib import Path

from mongo_lifeboat.agent.children import Running, command
from mongo_lifeboat.agent.supervisor import ArchiverSupervisor
from mongo_lifeboat.catalog.history import load_history
from mongo_lifeboat.events import Event
from mongo_lifeboat.oplog.segments import list_gaps
from mongo_lifeboat.repo.repository import Repository
from mongo_lifeboat.timestamps import to_str

from ..support.cli import lifeboat
from ..support.servers import ServerPool
from ..support.waiting import wait_for


def test_an_archiver_gap_reaches_the_agent_as_an_event(
    servers: ServerPool, repo: Repository, tmp_path: Path
) -> None:
    source = servers.new(secantus_args=["--oplog-max-entries", "100"])
    src = source.client()
    src.app.items.insert_many([{"_id": i} for i in range(50)])
    assert lifeboat("backup", "--source", source.uri, "--repo", repo.url).code == 0
    src.app.flood.insert_many([{"i": i} for i in range(2000)])  # the base's end leaves the oplog
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nname = "a"\nurl = "{repo.url}"\n'
    )

    gaps: list[Event] = []
    exits: list[int] = []
    supervisor = ArchiverSupervisor(
        plan,
        on_exit=lambda code, _reason, _retry: exits.append(code),
        on_gap=gaps.append,
        on_start=lambda: None,
        segment_seconds=0.5,
    )
    supervisor.start()
    try:
        wait_for(lambda: bool(gaps) or bool(exits), "the archiver's gap event", 120)
    finally:
        supervisor.stop()
    assert not exits, supervisor.describe()
    assert len(gaps) == 1
    gap = gaps[0]
    (recorded,) = list_gaps(repo.storage, load_history(repo).deployment)
    assert (gap.event, gap.status, gap.details["problem"]) == ("archiver", "failure", "gap")
    assert (gap.details["start"], gap.details["end"]) == (to_str(recorded.start), to_str(recorded.end))
    # The child's notifier stayed off: the supervisor (the agent) is the one that reports.
    assert gap.deployment and gap.repository == repo.url


def test_a_job_reports_its_phases_and_its_outcome_on_the_pipe(
    servers: ServerPool, repo: Repository, tmp_path: Path
) -> None:
    """What the agent's backup job learns, and from where: the phases the child went through and
    its own outcome, read from the events pipe; its stdout and stderr are not read for them."""
    source = servers.new()
    source.client().shop.orders.insert_many([{"_id": i} for i in range(300)])
    plan = tmp_path / "lifeboat.toml"
    plan.write_text(
        f'[deployment]\nsource = "{source.uri}"\n[[repository]]\nname = "a"\nurl = "{repo.url}"\n'
    )
    child = Running(command(plan, "backup"))
    result = child.wait(120)
    assert result.ok, result.stderr_tail
    outcome = result.outcome("backup")
    assert outcome is not None and outcome.status == "success"
    (manifest,) = [b.manifest for b in repo.list_backups() if b.manifest is not None]
    assert outcome.details["backup_id"] == manifest.backup_id
    assert outcome.summary.startswith(f"backup {manifest.backup_id} complete: 300 documents")
    assert child.phase == "committed"  # the last phase the child said it was in
