"""`reset_in_child`: what an object redoes in a process forked from its own (multiprocessing's default
start method on Linux): a lock another thread held at the fork is held for ever in the child, and the
parent's threads do not exist there, so each such object gets new locks and forgets those threads."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

_resets: list[weakref.WeakMethod[Callable[[], None]]] = []
_resets_lock = threading.Lock()


def reset_in_child(method: Callable[[], None]) -> None:
    """Call the bound `method` first thing in every child forked from now on, while its object lives
    (it is not kept alive for this)."""
    with _resets_lock:
        _resets[:] = [ref for ref in _resets if ref() is not None]
        _resets.append(weakref.WeakMethod(method))


def _after_fork_in_child() -> None:
    global _resets_lock
    _resets_lock = threading.Lock()  # another thread may have held it at the fork
    for ref in list(_resets):
        method = ref()
        if method is not None:
            method()


os.register_at_fork(after_in_child=_after_fork_in_child)
