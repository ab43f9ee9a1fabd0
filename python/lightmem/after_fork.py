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
_abandoned: list[object] = []
"""What the child inherited but must neither use nor close, kept referenced so that it is never finalized."""


def reset_in_child(method: Callable[[], None]) -> None:
    """Call the bound `method` first thing in every child forked from now on, while its object lives
    (it is not kept alive for this)."""
    with _resets_lock:
        _resets[:] = [ref for ref in _resets if ref() is not None]
        _resets.append(weakref.WeakMethod(method))


def abandon(inherited: object) -> None:
    """In a forked child: leave `inherited` (a database connection or pool whose sockets the parent still
    uses: a query of the child's would mix with the parent's, and closing them would end the parent's
    sessions) untouched for the rest of the child's life."""
    _abandoned.append(inherited)


def _after_fork_in_child() -> None:
    global _resets_lock
    _resets_lock = threading.Lock()  # another thread may have held it at the fork
    for ref in list(_resets):
        method = ref()
        if method is not None:
            method()


os.register_at_fork(after_in_child=_after_fork_in_child)
