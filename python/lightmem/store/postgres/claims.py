"""Claims on a scope's work (a flush, a consolidation) as PostgreSQL session advisory locks: at most one
holder per (job, exact scope) across every process and machine, released at the end of the claim or
when the holder's connection dies (a killed process), so that the work falls to the next claimant.

Every claim of a store goes through one connection of its own (not the pool's: a pass that holds many
claims takes no pooled connection), and a claim held by one thread of the process is refused to the
others (advisory locks are re-entrant within a session)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import psycopg
from psycopg.rows import TupleRow

from lightmem.after_fork import abandon, reset_in_child
from lightmem.store.errors import StoreError
from lightmem.store.rows import check_scope
from lightmem.types import Scope

JOBS = ("flush", "consolidate")
"""The kinds of work a scope can be claimed for."""
_POLL_S = (0.02, 0.05, 0.1, 0.2, 0.5)
"""Pauses between the attempts of a waiting claim (the last one repeats)."""

logger = logging.getLogger("lightmem")


def claim_key(job: str, scope: Scope) -> int:
    """The advisory lock key (a signed 64-bit integer) of `job` on the exact `scope`."""
    text = json.dumps(["lightmem", job, scope.user_id, scope.agent_id, scope.run_id])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


class Claims:
    """The claims of one store, on a connection of their own to `url` (`where`: the URL, masked)."""

    def __init__(self, url: str, where: str) -> None:
        self._url = url
        self._where = where
        self._lock = threading.Lock()
        self._conn: Optional[psycopg.Connection[TupleRow]] = None
        self._held: set[int] = set()
        reset_in_child(self._after_fork)

    def _after_fork(self) -> None:
        """In a forked child: a connection (a session) of its own at the next claim, so that the parent's
        claims, which are its session's, are not the child's too; the parent's is abandoned
        (`lightmem.after_fork.abandon`)."""
        if self._conn is not None:
            abandon(self._conn)
        self._conn = None
        self._lock = threading.Lock()
        self._held = set()

    @contextmanager
    def claim(self, job: str, scope: Scope, wait: bool) -> Iterator[bool]:
        """Hold `job` on the exact `scope` for the block: True when held, False when another holder has
        it (`wait`: try again until it is free)."""
        if job not in JOBS:
            raise ValueError(f"job must be one of {JOBS}, got {job!r}")
        key = claim_key(job, check_scope(scope))
        held = self._try(key)
        pauses = iter(_POLL_S)
        while wait and not held:
            time.sleep(next(pauses, _POLL_S[-1]))
            held = self._try(key)
        try:
            yield held
        finally:
            if held:
                self._release(key)

    def close(self) -> None:
        """Close the connection (releasing every claim it holds); idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._held.clear()

    def _try(self, key: int) -> bool:
        with self._lock:
            if key in self._held:
                return False
            row = self._connection().execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
            if row is None or not row[0]:
                return False
            self._held.add(key)
            return True

    def _release(self, key: int) -> None:
        with self._lock:
            self._held.discard(key)
            if self._conn is None:
                return
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", [key])
            except psycopg.OperationalError:  # the connection died: its locks went with it
                self._conn.close()
                self._conn = None

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._conn is None or self._conn.closed:
            if self._held:
                logger.warning("the claims connection to %s was lost; claims held are released", self._where)
                self._held.clear()
            try:
                self._conn = psycopg.connect(self._url, autocommit=True)
            except psycopg.OperationalError as exc:
                raise StoreError(f"cannot claim work in {self._where}: {str(exc).strip()[:200]}") from exc
        return self._conn
