"""MongoDB's own mongodump and mongorestore, side by side with Lifeboat on the same server and data.

The peers are found through ``MONGO_TOOLS_BIN`` (a directory holding ``mongodump`` and
``mongorestore``, built from mongodb/mongo-tools outside this project); without it the
comparison says "peer not found" and the bench goes on. Rounds alternate (Lifeboat, peer,
Lifeboat, peer …) so that a machine getting slower or faster over the run weighs on both;
medians are compared. Every restore goes into a fresh server: restoring over and over into one
server whose database is dropped in between was seen to slow one tool far more than the other
(mongorestore 4x slower there, 1.6x in fresh servers), which measures the server's drops, not
the tools.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mongo_lifeboat.embedded import ScratchServer


def tools_dir() -> Path | None:
    """The peers' directory, or None (and why, printed) when they are not there."""
    where = os.environ.get("MONGO_TOOLS_BIN")
    if not where:
        print("peer not found: set MONGO_TOOLS_BIN to a directory holding mongodump and mongorestore")
        return None
    path = Path(where)
    missing = [t for t in ("mongodump", "mongorestore") if not (path / t).is_file()]
    if missing:
        print(f"peer not found: {', '.join(missing)} not in {path}")
        return None
    return path


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-2000:]}")


def side_by_side(
    tools: Path,
    source_uri: str,
    lifeboat: Callable[..., Any],
    repo: str,
    jobs: int,
    rounds: int,
) -> dict[str, dict[str, list[float]]]:
    """Seconds per round: ``lifeboat backup`` vs ``mongodump --oplog``, and ``lifeboat restore``
    vs ``mongorestore`` of the same data, each into a fresh server, alternating."""
    times: dict[str, dict[str, list[float]]] = {
        "backup": {"lifeboat": [], "mongodump": []},
        "restore": {"lifeboat": [], "mongorestore": []},
    }
    dumps = Path(tempfile.mkdtemp(prefix="lifeboat-bench-peer-"))
    try:
        for i in range(rounds):
            out = dumps / f"dump{i}"
            times["backup"]["lifeboat"].append(
                _timed(lambda: lifeboat("backup", "--source", source_uri, "--repo", repo, "-j", str(jobs)))
            )
            times["backup"]["mongodump"].append(
                _timed(
                    lambda out=out: _run(
                        str(tools / "mongodump"),
                        f"--uri={source_uri}",
                        "--oplog",
                        f"--numParallelCollections={jobs}",
                        f"--out={out}",
                        "--quiet",
                    )
                )
            )
            with ScratchServer(private=False) as target:
                times["restore"]["lifeboat"].append(
                    _timed(
                        lambda target=target: lifeboat(
                            "restore", "latest", "--repo", repo, "--target", target.uri, "-j", str(jobs)
                        )
                    )
                )
            # The dump's oplog.bson is not replayed: its replay needs applyOps, which SecantusDB
            # lacks, and the source is quiet, so it holds nothing the collections do not.
            with ScratchServer(private=False) as target:
                times["restore"]["mongorestore"].append(
                    _timed(
                        lambda out=out, target=target: _run(
                            str(tools / "mongorestore"),
                            f"--uri={target.uri}",
                            f"--numParallelCollections={jobs}",
                            "--quiet",
                            str(out),
                        )
                    )
                )
            shutil.rmtree(out)
    finally:
        shutil.rmtree(dumps, ignore_errors=True)
    return times


def report(times: dict[str, dict[str, list[float]]]) -> None:
    """Medians and the speed ratio (peer seconds / Lifeboat seconds: > 1 is Lifeboat faster)."""
    for task, by_tool in times.items():
        (ours, our_s), (peer, peer_s) = by_tool.items()
        a, b = statistics.median(our_s), statistics.median(peer_s)
        rounds = ", ".join(f"{x:.1f}/{y:.1f}" for x, y in zip(our_s, peer_s, strict=True))
        print(
            f"  {task}: {ours} {a:.1f}s vs {peer} {b:.1f}s (medians of {len(our_s)} alternating rounds: "
            f"{rounds}) = {b / a:.2f}x"
        )
