"""The index catalog: index specs to build after data load and replay.

Keyed by *source* namespace, so it follows the source's history exactly: DDL in the
replayed oplog adds, drops and modifies specs, renames move them, drops forget them.
Building after replay is faster and cannot fail half-way on a unique index that
only the final state satisfies. (mongorestore does not follow renames.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from ...errors import RestoreFailed
from ...mongo.indexes import clean_spec


class IndexCatalog:
    def __init__(self) -> None:
        self._by_ns: dict[str, dict[str, dict[str, Any]]] = {}

    def add_collection(self, ns: str, specs: list[dict[str, Any]] | None = None) -> None:
        entry = self._by_ns.setdefault(ns, {})
        for spec in specs or []:
            entry[spec["name"]] = clean_spec(spec)

    def add(self, ns: str, spec: dict[str, Any]) -> None:
        self._by_ns.setdefault(ns, {})[spec["name"]] = clean_spec(spec)

    def drop_index(self, ns: str, name_or_key: Any) -> None:
        entry = self._by_ns.get(ns, {})
        if name_or_key == "*":
            for name in [n for n in entry if n != "_id_"]:
                del entry[name]
            return
        for name, spec in list(entry.items()):
            if name == name_or_key or spec.get("key") == name_or_key:
                del entry[name]

    def modify(self, ns: str, change: dict[str, Any]) -> None:
        """collMod ``index: {name|keyPattern, expireAfterSeconds, hidden, ...}``."""
        for name, spec in self._by_ns.get(ns, {}).items():
            if change.get("name") == name or change.get("keyPattern") == spec.get("key"):
                for k, v in change.items():
                    if k not in ("name", "keyPattern"):
                        spec[k] = v

    def drop_collection(self, ns: str) -> None:
        self._by_ns.pop(ns, None)

    def drop_database(self, db: str) -> list[str]:
        gone = [ns for ns in self._by_ns if ns.split(".", 1)[0] == db]
        for ns in gone:
            del self._by_ns[ns]
        return gone

    def rename(self, src: str, dst: str) -> None:
        if src in self._by_ns:
            self._by_ns[dst] = self._by_ns.pop(src)
        else:
            self._by_ns.setdefault(dst, {})

    def namespaces(self) -> list[str]:
        return sorted(self._by_ns)

    def specs(self, ns: str) -> list[dict[str, Any]]:
        return [s for n, s in self._by_ns.get(ns, {}).items() if n != "_id_"]

    def build(
        self,
        target: MongoClient[Any],
        map_ns: Callable[[str], str | None],
        skip: Collection[str] = (),
        timings: dict[str, float] | None = None,
    ) -> int:
        """One createIndexes per collection that exists on the target, but those in ``skip``
        (built already). Returns indexes built; ``timings`` gets each build's seconds."""
        built = 0
        existing: dict[str, set[str]] = {}
        for ns in self.namespaces():
            specs = self.specs(ns)
            tns = map_ns(ns)
            if not specs or tns is None or ns in skip:
                continue
            db, coll = tns.split(".", 1)
            if db not in existing:
                existing[db] = set(target[db].list_collection_names())
            if coll not in existing[db]:
                continue
            started = time.monotonic()
            self.build_one(target, ns, tns)
            if timings is not None:
                timings[tns] = time.monotonic() - started
            built += len(specs)
        return built

    def build_one(self, target: MongoClient[Any], ns: str, tns: str) -> None:
        """Every spec of ``ns`` on ``tns``, in one createIndexes."""
        db, coll = tns.split(".", 1)
        try:
            target[db].command("createIndexes", coll, indexes=self.specs(ns))
        except OperationFailure as e:
            raise RestoreFailed(
                f"building indexes on {tns} failed: {e.details.get('errmsg', e) if e.details else e}"
            ) from e
