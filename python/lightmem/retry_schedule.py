"""`RetrySchedule`: when a scope whose flush failed may be tried again, after a backoff that doubles with
each consecutive failure (`retry_delay`), so that a memory's background thread or a `lightmem worker`
facing a dead or overloaded LLM server sends it one request per backoff, never a loop."""

from __future__ import annotations

import random
import time

from lightmem.types import Scope

RETRY_FIRST_S = 5.0
"""Seconds before a failed flush is tried again the first time (the LLM client has retried its
connection errors, 429s and 5xx within the call already)."""
RETRY_MAX_S = 300.0
"""The longest wait between two attempts."""


def retry_delay(failures: int) -> float:
    """Seconds to wait after `failures` (>= 1) consecutive failures: RETRY_FIRST_S doubled with each,
    at most RETRY_MAX_S, times a random factor in [0.5, 1] so that scopes and processes that failed
    together (a server restarting) do not all try again at the same moment."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** (failures - 1)) * random.uniform(0.5, 1.0)


class RetrySchedule:
    """Per exact scope: its consecutive failures and the `time.monotonic()` time of its next attempt.
    Not thread-safe (one loop uses it)."""

    def __init__(self) -> None:
        self._failures: dict[Scope, int] = {}
        self._next: dict[Scope, float] = {}

    def failed(self, scope: Scope) -> float:
        """Note a failure of `scope`; the seconds until it may be tried again."""
        failures = self._failures[scope] = self._failures.get(scope, 0) + 1
        delay = retry_delay(failures)
        self._next[scope] = time.monotonic() + delay
        return delay

    def succeeded(self, scope: Scope) -> None:
        """Note that `scope` needs no retry (flushed, or nothing left to flush)."""
        self._failures.pop(scope, None)
        self._next.pop(scope, None)

    def ready_at(self, scope: Scope) -> float:
        """The `time.monotonic()` time from which `scope` may be tried (0 when it has not failed)."""
        return self._next.get(scope, 0.0)
