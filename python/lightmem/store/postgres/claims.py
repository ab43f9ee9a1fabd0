"""Claims on a scope's work (a flush, a consolidation) as PostgreSQL session advisory locks: at most one
holder per (job, exact scope) across every process and machine, released at the end of the claim or
when the holder's connection dies (a killed process), so that the work falls to the next claimant."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

from lightmem.store.postgres.connection import Database
from lightmem.store.rows import check_scope
from lightmem.types import Scope

JOBS = ("flush", "consolidate")
"""The kinds of work a scope can be claimed for."""


def claim_key(job: str, scope: Scope) -> int:
    """The advisory lock key (a signed 64-bit integer) of `job` on the exact `scope`."""
    text = json.dumps(["lightmem", job, scope.user_id, scope.agent_id, scope.run_id])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


@contextmanager
def claim(db: Database, job: str, scope: Scope, wait: bool) -> Iterator[bool]:
    """Hold the claim of `job` on the exact `scope` for the block: yields True when held, False when
    another holder has it (`wait` False) ; `wait` True blocks until it is free. One pooled connection is
    kept for the block (outside any transaction, so that it holds no snapshot meanwhile)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {JOBS}, got {job!r}")
    key = claim_key(job, check_scope(scope))
    with db.connection() as conn:
        if wait:
            conn.execute("SELECT pg_advisory_lock(%s)", [key])
            held = True
        else:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
            held = bool(row and row[0])
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])
                conn.commit()
