"""Several repositories as one storage: writes go to every one that is up, reads come from the
first that has what is asked for.

This is how a plan with several ``[[repository]]`` entries is backed up: the source is read
once, each object is compressed once, and the same bytes go to every repository (each one
encrypting with its own key underneath). A repository that fails a request is marked down
and left out for the rest of the run — the others carry on — and every listener hears of it
once. A backup's manifest is written last, only to the repositories that are still up, so a
repository that went down half-way holds an incomplete backup, never a complete one with
holes. The archiver brings a repository that comes back up to date (``revive``).

Reading: a listing is the union of the members' listings; an object comes from the first
member that has it, and ``first_good`` moves on to the next member when one fails its
checksum (each fallback is announced to the listeners).
"""

from __future__ import annotations

import heapq
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, TypeVar

from ..errors import IntegrityError, LifeboatError, RepositoryError
from ..events import Reporter, Update
from ..secrets import redact
from .storage import ObjectInfo, ObjectMissing, Storage

T = TypeVar("T")

# What a member may raise that means "this repository, not the request, is the problem".
MEMBER_FAILURES = (RepositoryError, OSError)


@dataclass
class Member:
    name: str
    storage: Storage
    down: str | None = None  # why it was left out (None: up)
    # A repository that could not even be opened: how to open it once it is back.
    reopen: Callable[[], Storage] | None = None


def _reason(e: BaseException) -> str:
    return redact(e.message if isinstance(e, LifeboatError) else str(e) or type(e).__name__)


class MirrorStorage:
    def __init__(self, members: list[Member]) -> None:
        if not members:
            raise ValueError("a mirror needs at least one repository")
        self.members = members
        self.url = members[0].storage.url
        # Told of each member that goes down, serves a bad object or comes back: a notice
        # (``Update`` of run "repository", name down | fallback | revived; facts member, url).
        self.listeners: list[Reporter] = []

    # -- membership --------------------------------------------------------------------

    def up(self) -> list[Member]:
        return [m for m in self.members if m.down is None]

    def _tell(self, member: Member, kind: str, message: str) -> None:
        notice = Update(
            "repository",
            "notice",
            kind,
            message,
            facts={"member": member.name, "url": redact(member.storage.url)},
        )
        for listener in self.listeners:
            listener(notice)

    def mark_down(self, member: Member, what: str, e: BaseException) -> None:
        if member.down is not None:
            return
        member.down = f"{what}: {_reason(e)}"
        others = ", ".join(m.name for m in self.up()) or "none"
        self._tell(
            member,
            "down",
            f"repository {member.name} is left out for now ({member.down}); going on with: {others}",
        )

    def revive(self, member: Member, detail: str = "") -> None:
        member.down = None
        self._tell(member, "revived", f"repository {member.name} is back{': ' + detail if detail else ''}")

    def _visit(self, what: str, fn: Callable[[Member], bool]) -> None:
        """``fn`` on each member that is up, in order, until it returns False; members that
        fail are marked down. Raises only when no member answered."""
        failure: BaseException | None = None
        answered = False
        for m in self.up():
            try:
                go_on = fn(m)
            except MEMBER_FAILURES as e:
                failure = e
                self.mark_down(m, what, e)
                continue
            answered = True
            if not go_on:
                return
        if not answered:
            raise failure or self._all_down()

    def _each(self, what: str, fn: Callable[[Member], T]) -> list[T]:
        """``fn`` on every member that is up (see ``_visit``)."""
        done: list[T] = []

        def one(m: Member) -> bool:
            done.append(fn(m))
            return True

        self._visit(what, one)
        return done

    def _in_order(self, what: str, fn: Callable[[Member], bool]) -> bool:
        """A conditional write (create-if-absent, compare-and-swap) member by member, in order,
        stopping at the first refusal: of two competing writers the one that loses on the first
        member never touches the others, so exactly one wins (both writing every member at once
        could each win one member and both lose)."""
        granted: list[bool] = []

        def one(m: Member) -> bool:
            granted.append(fn(m))
            return granted[-1]

        self._visit(what, one)
        return all(granted)

    def _all_down(self) -> RepositoryError:
        return RepositoryError(
            "every repository of the plan is down: " + "; ".join(f"{m.name}: {m.down}" for m in self.members)
        )

    def _first(self, what: str, key: str, fn: Callable[[Storage], T]) -> T:
        """``fn`` on the first member that has ``key``; ObjectMissing when none has."""
        for m in self.up():
            try:
                return fn(m.storage)
            except ObjectMissing:
                continue
            except MEMBER_FAILURES as e:
                self.mark_down(m, f"{what} {key}", e)
        if not self.up():
            raise self._all_down()
        raise ObjectMissing(key)

    def first_good(self, key: str, read: Callable[[Storage], T]) -> T:
        """``read`` (which checks what it reads) from the first member whose copy of ``key``
        passes; a member whose copy is missing or fails its checksum is skipped, and said."""
        candidates = self.up()
        failure: BaseException | None = None
        for i, m in enumerate(candidates):
            try:
                return read(m.storage)
            except (IntegrityError, ObjectMissing) as e:
                failure = e
                problem = "missing" if isinstance(e, ObjectMissing) else _reason(e)
            except MEMBER_FAILURES as e:
                failure = e
                self.mark_down(m, f"read {key}", e)
                continue
            if i + 1 < len(candidates):
                self._tell(
                    m,
                    "fallback",
                    f"{key} in repository {m.name} cannot be used ({problem}); "
                    f"reading it from {candidates[i + 1].name}",
                )
        raise failure or self._all_down()

    # -- the storage interface -------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, meta: dict[str, str] | None = None) -> ObjectInfo:
        source = stream
        if not stream.seekable():  # each member reads it from the start
            source = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # type: ignore[assignment]  # noqa: SIM115
            while chunk := stream.read(1 << 20):
                source.write(chunk)
            source.seek(0)
        start = source.tell()

        def one(m: Member) -> ObjectInfo:
            source.seek(start)
            return m.storage.put(key, source, meta)

        return self._each(f"upload {key}", one)[0]

    def create(self, key: str, data: bytes) -> bool:
        created: list[Member] = []

        def one(m: Member) -> bool:
            if m.storage.create(key, data):
                created.append(m)
                return True
            return False

        if self._in_order(f"create {key}", one):
            return True
        # Held somewhere: nobody holds it through us (undo what we created, so we hold nothing).
        for m in created:
            m.storage.delete([key])
        return False

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        def one(m: Member) -> tuple[str, bytes, str] | None:
            try:
                return (m.name, *m.storage.read_versioned(key))
            except ObjectMissing:
                return None

        found = [r for r in self._each(f"read {key}", one) if r is not None]
        if not found:
            raise ObjectMissing(key)
        # One version per member: a compare-and-swap succeeds only where each is unchanged.
        return found[0][1], json.dumps({name: version for name, _, version in found}, sort_keys=True)

    def replace(self, key: str, data: bytes, version: str) -> bool:
        versions = json.loads(version)

        def one(m: Member) -> bool:
            v = versions.get(m.name)
            # A member that did not have it (it was down, or came back) gets it created.
            return m.storage.create(key, data) if v is None else m.storage.replace(key, data, v)

        return self._in_order(f"replace {key}", one)

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._each(f"delete {keys[0] if keys else ''}", lambda m: m.storage.delete(keys))

    def get(self, key: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        return self._first("read", key, lambda s: s.get(key, offset, length))

    def stat(self, key: str) -> ObjectInfo:
        return self._first("stat", key, lambda s: s.stat(key))

    def locked_until(self, key: str) -> datetime | None:
        untils = [
            u for u in self._each(f"stat {key}", lambda m: m.storage.locked_until(key)) if u is not None
        ]
        return max(untils) if untils else None

    def sweep_partials(self, older_than_s: float, dry_run: bool = False) -> tuple[str, ...]:
        each = self._each("sweep partial writes", lambda m: m.storage.sweep_partials(older_than_s, dry_run))
        return tuple(sorted({k for keys in each for k in keys}))

    def undelete(self, prefix: str) -> tuple[str, ...]:
        return tuple(
            sorted(
                {
                    k
                    for keys in self._each(f"undelete {prefix}", lambda m: m.storage.undelete(prefix))
                    for k in keys
                }
            )
        )

    def list(self, prefix: str = "", with_meta: bool = False) -> Iterator[ObjectInfo]:
        """The union of the members' listings, in key order, each key once (the first
        member's entry wins)."""

        def guarded(m: Member) -> Iterator[ObjectInfo]:
            try:
                yield from m.storage.list(prefix, with_meta)
            except MEMBER_FAILURES as e:
                self.mark_down(m, f"listing {prefix or '(everything)'}", e)

        last: str | None = None
        for info in heapq.merge(*(guarded(m) for m in self.up()), key=lambda i: i.key):
            if info.key != last:
                last = info.key
                yield info


def reading_from(storage: Storage, key: str, read: Callable[[Storage], T]) -> T:
    """``read`` from ``storage``; from a mirror, from the first repository whose copy passes."""
    if isinstance(storage, MirrorStorage):
        return storage.first_good(key, read)
    return read(storage)
