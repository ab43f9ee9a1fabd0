"""Claims on a scope's work (a flush, a consolidation) for the store of a directory: a write lock on one
byte of `claims.lock` per (job, exact scope), the byte's offset a hash of the two, so that at most one
thread or process of the machine holds it; the kernel releases it when the holder closes the file or
dies. Linux's open-file-description locks keep two threads of one process apart too; elsewhere the whole
file is locked instead (one claim at a time per directory). A process forked while another thread holds
a claim closes its copy of that claim's file at once, or the claim would last as long as the child."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightmem.store.rows import check_scope
from lightmem.types import Scope

JOBS = ("flush", "consolidate")
"""The kinds of work a scope can be claimed for."""
CLAIMS_FILE = "claims.lock"
"""The file of a directory's claims (empty: only its locks matter)."""
_POLL_S = 0.05
"""Pause between the attempts of a waiting claim."""
_BYTE_LOCKS = hasattr(fcntl, "F_OFD_SETLK")
_held: dict[int, int] = {}
"""The file descriptor of each claim held in this process -> the ident of the thread holding it."""


def claim_offset(job: str, scope: Scope) -> int:
    """The byte of `claims.lock` whose lock is the claim of `job` on the exact `scope`."""
    text = json.dumps([job, scope.user_id, scope.agent_id, scope.run_id])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 2


@contextmanager
def claim(directory: Path, job: str, scope: Scope, wait: bool) -> Iterator[bool]:
    """Hold `job` on the exact `scope` for the block: True when held, False when another holder has it
    (`wait`: try again until it is free)."""
    if job not in JOBS:
        raise ValueError(f"job must be one of {JOBS}, got {job!r}")
    offset = claim_offset(job, check_scope(scope))
    fd = os.open(directory / CLAIMS_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    _held[fd] = threading.get_ident()
    try:
        held = _try_lock(fd, offset)
        while wait and not held:
            time.sleep(_POLL_S)
            held = _try_lock(fd, offset)
        yield held
    finally:
        del _held[fd]
        os.close(fd)  # releases the lock (once no forked child holds a copy of the descriptor)


def _try_lock(fd: int, offset: int) -> bool:
    try:
        if _BYTE_LOCKS:  # struct flock: type, whence, start, length, pid (0 for these locks)
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0))
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _close_inherited_claims() -> None:
    """In a forked child: close the descriptors of the claims other threads held at the fork (those
    threads do not exist in the child, so nothing else would ever close them)."""
    me = threading.get_ident()
    for fd, holder in list(_held.items()):
        if holder != me:
            del _held[fd]
            os.close(fd)


os.register_at_fork(after_in_child=_close_inherited_claims)
