"""Claims on a scope's work (a flush, a consolidation) for the store of a directory: an exclusive
`flock` on a small file per (job, exact scope) under `claims/`, so that at most one thread or process of
the machine holds it; the kernel releases it when the holder exits or is killed."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightmem.store.rows import check_scope
from lightmem.types import Scope

JOBS = ("flush", "consolidate")
"""The kinds of work a scope can be claimed for."""
_POLL_S = 0.05
"""Pause between the attempts of a waiting claim."""


def claim_path(directory: Path, job: str, scope: Scope) -> Path:
    """The file whose lock is the claim of `job` on the exact `scope`."""
    text = json.dumps([job, scope.user_id, scope.agent_id, scope.run_id])
    return directory / "claims" / f"{job}-{hashlib.blake2b(text.encode('utf-8'), digest_size=12).hexdigest()}"


@contextmanager
def claim(directory: Path, job: str, scope: Scope, wait: bool) -> Iterator[bool]:
    """Hold `job` on the exact `scope` for the block: True when held, False when another holder has it
    (`wait`: try again until it is free)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {JOBS}, got {job!r}")
    path = claim_path(directory, job, check_scope(scope))
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        held = _try_lock(fd)
        while wait and not held:
            time.sleep(_POLL_S)
            held = _try_lock(fd)
        yield held
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
