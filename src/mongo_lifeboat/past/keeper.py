"""A mount's keeper: serves its restored data read-only (``--auth``) until the TTL or SIGTERM,
then stops the server and removes the mount's directory. Run by ``mounts.start_mount`` as
``python -m mongo_lifeboat.past.keeper DIRECTORY``, in a session of its own."""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..embedded import ScratchServer
from .mounts import load_record, remove_mount, save_record


def keep(directory: Path) -> int:
    mount = load_record(directory)
    if mount is None:
        print(f"no mount.json in {directory}", flush=True)
        return 1
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    # SCRAM from its first second: the users were made while the certificate gate held.
    server = ScratchServer(["--auth"], data_dir=directory / "data", port=mount.port, private=False)
    try:
        server.start()
        mount.keeper_pid = os.getpid()
        mount.server_pid = server.proc.pid if server.proc else None
        save_record(directory, mount)  # the mount command waits for this: serving now
        print(f"serving {mount.id} on 127.0.0.1:{mount.port} until {mount.expires_at}", flush=True)
        done.wait(max(0.0, (datetime.fromisoformat(mount.expires_at) - datetime.now(UTC)).total_seconds()))
    finally:
        server.stop()
        remove_mount(directory)
    return 0


if __name__ == "__main__":
    sys.exit(keep(Path(sys.argv[1])))
