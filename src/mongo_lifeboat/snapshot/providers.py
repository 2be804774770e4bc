"""Snapshot providers: who actually takes, deletes and restores a volume snapshot.

- ``command``: the operator's own commands (``[snapshot.command] snapshot``, ``delete``,
  ``restore``), run by ``sh -c`` with the context in environment variables — the escape hatch
  for LVM layouts, ZFS, NetApp, anything. ``snapshot`` prints the provider's ids, one per line
  (none printed: the Lifeboat snapshot id is the id).
- ``lvm``: ``lvcreate --snapshot --name lifeboat-<id> --size <size> <vg>/<lv>``; delete
  ``lvremove -y <vg>/lifeboat-<id>``; restore ``lvconvert --merge <vg>/lifeboat-<id>`` (the
  merge completes when the origin volume is next activated: stop the member first).
- ``zfs``: ``zfs snapshot <dataset>@lifeboat-<id>``; delete ``zfs destroy
  <dataset>@lifeboat-<id>``; restore ``zfs rollback -r <dataset>@lifeboat-<id>`` (destroys
  later snapshots of the dataset).
- ``ebs``: EC2 ``CreateSnapshot`` of each of the member's volumes (listed, or found by the tag
  ``lifeboat:member``), tagged with the Lifeboat snapshot id and deployment, waited on until
  completed; delete ``DeleteSnapshot``. Restore: new volumes from the snapshots, attached to
  the member by the operator (or a ``[snapshot.command] restore``).

Every variable a command gets: ``LIFEBOAT_SNAPSHOT_ID``, ``LIFEBOAT_DEPLOYMENT``,
``LIFEBOAT_MEMBER`` (host:port), ``LIFEBOAT_PROVIDER_IDS`` (space-separated, for delete and
restore), ``LIFEBOAT_CONSISTENT_FROM`` and ``LIFEBOAT_CONSISTENT_TO`` (after the snapshot).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import SnapshotFailed, UsageError
from ..secrets import redact

if TYPE_CHECKING:
    from ..catalog.snapshots import SnapshotManifest
    from ..config import SnapshotSettings

COMMAND_TIMEOUT_S = 3600.0


@dataclass
class Context:
    snapshot_id: str
    deployment: str
    member: str
    provider_ids: list[str] = field(default_factory=list)
    consistent_from: str = ""
    consistent_to: str = ""

    @classmethod
    def of(cls, manifest: SnapshotManifest) -> Context:
        """The context of a recorded snapshot (to delete or restore it)."""
        return cls(
            manifest.snapshot_id,
            manifest.deployment,
            manifest.member,
            manifest.provider_ids,
            manifest.consistent_from,
            manifest.consistent_to,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LIFEBOAT_SNAPSHOT_ID": self.snapshot_id,
            "LIFEBOAT_DEPLOYMENT": self.deployment,
            "LIFEBOAT_MEMBER": self.member,
            "LIFEBOAT_PROVIDER_IDS": " ".join(self.provider_ids),
            "LIFEBOAT_CONSISTENT_FROM": self.consistent_from,
            "LIFEBOAT_CONSISTENT_TO": self.consistent_to,
        }


def run(what: str, argv: list[str], ctx: Context, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
    """Run one command; its stdout. A failure names the step and shows the command's last words."""
    try:
        done = subprocess.run(
            argv, env=ctx.env(), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise SnapshotFailed(
            f"the {what} command did not finish in {timeout_s:g}s: {redact(' '.join(argv))}"
        ) from e
    except OSError as e:
        raise SnapshotFailed(f"the {what} command could not run: {e}") from e
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SnapshotFailed(
            f"the {what} command failed (exit {done.returncode}): {redact(' | '.join(tail)) or 'no output'}"
        )
    return done.stdout


def shell(command: str) -> list[str]:
    return ["sh", "-c", command]


class Provider(Protocol):
    name: str

    def snapshot(self, ctx: Context) -> tuple[list[str], list[str]]:
        """Take it: (provider ids, volumes)."""
        ...

    def delete(self, ctx: Context) -> None: ...

    def restore(self, ctx: Context) -> str:
        """Bring the member's data back from it (SnapshotFailed where it cannot); its output
        (for a drill: a staging server's URI on the last line)."""
        ...


class CommandProvider:
    name = "command"

    def __init__(self, snapshot: str, delete: str | None, restore: str | None) -> None:
        self.commands = {"snapshot": snapshot, "delete": delete, "restore": restore}

    def snapshot(self, ctx: Context) -> tuple[list[str], list[str]]:
        out = run("snapshot", shell(self.commands["snapshot"] or ""), ctx)
        ids = [line.strip() for line in out.splitlines() if line.strip()]
        return ids or [ctx.snapshot_id], []

    def delete(self, ctx: Context) -> None:
        if self.commands["delete"]:
            run("delete", shell(self.commands["delete"]), ctx)

    def restore(self, ctx: Context) -> str:
        if not self.commands["restore"]:
            raise SnapshotFailed("no [snapshot.command] restore command in the plan")
        return run("restore", shell(self.commands["restore"]), ctx)


class LvmProvider:
    name = "lvm"

    def __init__(self, volume_group: str, logical_volume: str, size: str) -> None:
        self.vg, self.lv, self.size = volume_group, logical_volume, size

    def _name(self, ctx: Context) -> str:
        return f"lifeboat-{ctx.snapshot_id}"

    def snapshot(self, ctx: Context) -> tuple[list[str], list[str]]:
        run(
            "lvcreate",
            [
                "lvcreate",
                "--snapshot",
                "--name",
                self._name(ctx),
                "--size",
                self.size,
                f"{self.vg}/{self.lv}",
            ],
            ctx,
        )
        return [f"{self.vg}/{self._name(ctx)}"], [f"{self.vg}/{self.lv}"]

    def delete(self, ctx: Context) -> None:
        run("lvremove", ["lvremove", "-y", f"{self.vg}/{self._name(ctx)}"], ctx)

    def restore(self, ctx: Context) -> str:
        return run("lvconvert", ["lvconvert", "--merge", f"{self.vg}/{self._name(ctx)}"], ctx)


class ZfsProvider:
    name = "zfs"

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset

    def _name(self, ctx: Context) -> str:
        return f"{self.dataset}@lifeboat-{ctx.snapshot_id}"

    def snapshot(self, ctx: Context) -> tuple[list[str], list[str]]:
        run("zfs snapshot", ["zfs", "snapshot", self._name(ctx)], ctx)
        return [self._name(ctx)], [self.dataset]

    def delete(self, ctx: Context) -> None:
        run("zfs destroy", ["zfs", "destroy", self._name(ctx)], ctx)

    def restore(self, ctx: Context) -> str:
        return run("zfs rollback", ["zfs", "rollback", "-r", self._name(ctx)], ctx)


class EbsProvider:
    name = "ebs"

    def __init__(self, volume_ids: list[str], region: str | None, wait_s: float, client: Any = None) -> None:
        self.volume_ids, self.region, self.wait_s = volume_ids, region, wait_s
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # only EBS snapshots need it here

            self._client = boto3.client("ec2", region_name=self.region)
        return self._client

    def _volumes(self, ctx: Context) -> list[str]:
        if self.volume_ids:
            return self.volume_ids
        found = self.client.describe_volumes(
            Filters=[{"Name": "tag:lifeboat:member", "Values": [ctx.member]}]
        )
        volumes = [v["VolumeId"] for v in found.get("Volumes", [])]
        if not volumes:
            raise UsageError(
                f"no EBS volume is tagged lifeboat:member={ctx.member}",
                "tag the member's data volumes, or list them in [snapshot.ebs] volume_ids",
            )
        return volumes

    def snapshot(self, ctx: Context) -> tuple[list[str], list[str]]:
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError

        volumes = self._volumes(ctx)
        ids = []
        try:
            for volume in volumes:
                got = self.client.create_snapshot(
                    VolumeId=volume,
                    Description=f"lifeboat {ctx.deployment} {ctx.snapshot_id}",
                    TagSpecifications=[
                        {
                            "ResourceType": "snapshot",
                            "Tags": [
                                {"Key": "lifeboat:snapshot-id", "Value": ctx.snapshot_id},
                                {"Key": "lifeboat:deployment", "Value": ctx.deployment},
                                {"Key": "lifeboat:member", "Value": ctx.member},
                            ],
                        }
                    ],
                )
                ids.append(got["SnapshotId"])
            delay = 5
            self.client.get_waiter("snapshot_completed").wait(
                SnapshotIds=ids,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(self.wait_s / delay))},
            )
        except (ClientError, BotoCoreError, WaiterError) as e:
            ctx.provider_ids = ids
            self.delete(ctx)  # nothing half-made stays behind
            raise SnapshotFailed(f"EBS snapshot of {', '.join(volumes)} failed: {e}") from e
        return ids, volumes

    def delete(self, ctx: Context) -> None:
        from botocore.exceptions import ClientError

        for snapshot_id in ctx.provider_ids:
            try:
                self.client.delete_snapshot(SnapshotId=snapshot_id)
            except ClientError as e:
                if "NotFound" not in str(e):
                    raise SnapshotFailed(f"EBS snapshot {snapshot_id} could not be deleted: {e}") from e

    def restore(self, ctx: Context) -> str:
        raise SnapshotFailed(
            "EBS snapshots are restored by creating volumes from them "
            f"({' '.join(ctx.provider_ids)}) and attaching them to the member",
            "or set a [snapshot.command] restore command that does it",
        )


def provider_for(settings: SnapshotSettings, name: str | None = None) -> Provider:
    chosen = name or settings.provider
    if chosen == "command":
        c = settings.command
        if c is None or not c.snapshot:
            raise UsageError(
                'the command provider needs [snapshot.command] snapshot = "…"',
                "a command that takes the snapshot and prints its ids (README: Snapshots)",
            )
        return CommandProvider(c.snapshot, c.delete, c.restore)
    if chosen == "lvm":
        if settings.lvm is None:
            raise UsageError(
                "the lvm provider needs [snapshot.lvm] volume_group and logical_volume",
                'e.g. [snapshot.lvm] volume_group = "vg0", logical_volume = "mongo-data", size = "20G"',
            )
        return LvmProvider(settings.lvm.volume_group, settings.lvm.logical_volume, settings.lvm.size)
    if chosen == "zfs":
        if settings.zfs is None:
            raise UsageError(
                "the zfs provider needs [snapshot.zfs] dataset", 'e.g. [snapshot.zfs] dataset = "tank/mongo"'
            )
        return ZfsProvider(settings.zfs.dataset)
    if chosen == "ebs":
        ebs = settings.ebs
        return EbsProvider(
            ebs.volume_ids if ebs else [], ebs.region if ebs else None, ebs.wait_s if ebs else 3600.0
        )
    raise UsageError(f"unknown snapshot provider {chosen!r}", "one of: command, ebs, lvm, zfs")


def bring_up(provider: Provider, snapshot: SnapshotManifest, hint: str) -> str:
    """The provider's restore of ``snapshot``: it brings a member up on the snapshot's data and
    prints that member's MongoDB URI last, which is returned. ``hint``: what to do instead,
    for the caller's situation, when it printed none."""
    printed = [
        line.strip() for line in (provider.restore(Context.of(snapshot)) or "").splitlines() if line.strip()
    ]
    if not printed or not printed[-1].startswith("mongodb"):
        raise UsageError(f"the {provider.name} provider's restore printed no MongoDB URI last", hint)
    return printed[-1]
