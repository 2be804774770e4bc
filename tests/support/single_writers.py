"""Busy clients writing single documents (issue 37): the traffic that must never look like an
incident, for the corpus and the live-detection tests."""

from __future__ import annotations

import random
import threading
from typing import Any

from pymongo import MongoClient


class Clients:
    """``n`` clients writing single documents of every kind (each write changes a document: the
    updated and deleted ones exist) to ``colls``, as fast as the server lets them (faster is
    harsher: denser streaks), until stopped."""

    def __init__(
        self,
        uri: str,
        n: int,
        retry: bool = True,
        sessions: bool = False,
        kinds: str = "iud",
        colls: tuple[str, ...] = ("app.carts", "app.events"),
    ) -> None:
        self.uri, self.n, self.retry, self.sessions, self.kinds, self.colls = (
            uri,
            n,
            retry,
            sessions,
            kinds,
            colls,
        )
        self.stop = threading.Event()
        self.done = 0
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in range(n)]

    def _run(self, k: int) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(self.uri, retryWrites=self.retry)
        rng = random.Random(k)
        session = client.start_session() if self.sessions else None
        live: dict[str, list[str]] = {name: [] for name in self.colls}
        try:
            i = 0
            while not self.stop.is_set():
                i += 1
                name = rng.choice(self.colls)
                db, coll_name = name.split(".", 1)
                coll, ids = client[db][coll_name], live[name]
                kind = rng.choice(self.kinds) if len(ids) > 20 else "i"
                if kind == "i":
                    ids.append(f"c{k}-{i}")
                    coll.insert_one({"_id": ids[-1], "n": i}, session=session)
                elif kind == "u":
                    coll.update_one({"_id": rng.choice(ids)}, {"$inc": {"n": 1}}, session=session)
                else:
                    coll.delete_one({"_id": ids.pop(rng.randrange(len(ids)))}, session=session)
                self.done += 1
        except BaseException as e:
            self.errors.append(e)
        finally:
            client.close()

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def wait_ops(self, n: int) -> None:
        target = self.done + n
        while self.done < target and not self.errors:
            self.stop.wait(0.01)  # polling the counter, not a guess at timing

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
        assert not self.errors, self.errors
