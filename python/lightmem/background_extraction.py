"""`BackgroundExtraction`: the daemon thread of a `Memory` (`LightMemConfig.extraction` "background") that
extracts the short-term buffers its `add`s filled, so that `add` only buffers and returns while an LLM
(a CPU-served model takes 30 s to minutes) works.

It flushes one scope at a time through `MemoryJobs.flush`, under the store's claim on the scope: a flush
of another thread, process or `lightmem worker` and this thread never extract the same messages, and a
`delete_all` racing it leaves no memory of the deleted messages (the store refuses units whose messages
left the buffer). A failed flush leaves its messages in the buffer and is tried again after a backoff
that doubles with each failure (`lightmem.retry_schedule`): a scope after its own failures, and every
scope after consecutive LLM failures (the server is down, or too slow), so a dead server sees one
request per backoff from this memory, never a loop. A scope whose claim another holds is looked at again
every `CLAIMED_RETRY_S` while its buffer stays full.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from lightmem.after_fork import reset_in_child
from lightmem.jobs import MemoryJobs
from lightmem.llm import LLMError
from lightmem.retry_schedule import RetrySchedule, retry_delay
from lightmem.types import Scope

logger = logging.getLogger("lightmem")

CLAIMED_RETRY_S = 1.0
"""Seconds before a scope whose claim another holder had (a `lightmem worker`, a `flush`, a memory closed
while its extraction still waits for the LLM) is looked at again: its buffer may still be full after."""


class BackgroundExtraction:
    """Extracts, in a daemon thread started by the first `due`, each scope `due` named whose buffer still
    holds `threshold` words (its last topic segment waits for more turns, as an inline flush does)."""

    def __init__(self, jobs: MemoryJobs, threshold: int) -> None:
        self._jobs = jobs
        self._threshold = threshold
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._due: dict[Scope, float] = {}
        """Per exact scope to extract: the `time.monotonic()` time from which it may be tried."""
        self._retries = RetrySchedule()
        self._llm_failures = 0
        """Consecutive flushes (of any scope) that failed with an LLMError."""
        self._paused_until = 0.0
        """No flush starts before this `time.monotonic()` time (after an LLM failure)."""
        self._thread: Optional[threading.Thread] = None
        reset_in_child(self._after_fork)

    def due(self, scope: Scope) -> None:
        """Note that the buffer of the exact `scope` is full: it is extracted soon (after its backoff, if
        its last flush failed). Cheap; never waits for an extraction."""
        with self._wake:
            if self._stopping.is_set():
                return  # closed: the messages stay in the buffer for the next open
            self._due.setdefault(scope, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lightmem-extraction", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop the thread after its current flush, joining it for at most `timeout` seconds; True if no
        thread is left running. A flush still waiting for the LLM then stores nothing once the store is
        closed: its messages stay in the buffer."""
        with self._wake:
            self._stopping.set()
            self._wake.notify_all()
            thread = self._thread
        if thread is None:
            return True
        if thread is threading.current_thread():  # a memory collected by its own thread's GC
            return False
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is not there and its lock may be held for ever; the
        child starts its own thread at its first full buffer (the parent extracts the scopes it had due,
        and the store's claim keeps the two apart)."""
        stopping = self._stopping.is_set()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        if stopping:
            self._stopping.set()
        self._due.clear()
        self._thread = None

    def _run(self) -> None:
        while True:
            scope = self._next()
            if scope is None:
                return
            self._flush(scope)

    def _next(self) -> Optional[Scope]:
        """The scope to flush now (the one due first), once there is one and no backoff holds; None once
        stopping."""
        with self._wake:
            while not self._stopping.is_set():
                if not self._due:
                    self._wake.wait()
                    continue
                first = min(self._due, key=self._due.__getitem__)
                wait = max(self._due[first], self._paused_until) - time.monotonic()
                if wait <= 0:
                    del self._due[first]
                    return first
                self._wake.wait(wait)
        return None

    def _flush(self, scope: Scope) -> None:
        try:
            if self._jobs.words(scope) < self._threshold:  # flushed or deleted meanwhile
                self._retries.succeeded(scope)
                return
            items = self._jobs.flush(scope, force=False)
        except Exception as err:  # logged; the messages stay in the buffer for the retry
            self._failed(scope, err)
            return
        if items is None:  # another holds its claim: what it leaves may still fill the buffer
            with self._wake:
                self._due.setdefault(scope, time.monotonic() + CLAIMED_RETRY_S)
            return
        self._retries.succeeded(scope)
        self._llm_failures = 0
        if items:
            logger.info("background extraction: %s -> %d units", scope, len(items))

    def _failed(self, scope: Scope, err: Exception) -> None:
        """Schedule the retry of `scope` (and, after an LLM failure, hold back every scope), and log why."""
        if self._stopping.is_set():
            logger.warning(
                "background extraction of %s stopped at close (its messages stay in the buffer): %r",
                scope,
                err,
            )
            return
        delay = self._retries.failed(scope)
        with self._wake:
            self._due[scope] = max(self._due.get(scope, 0.0), self._retries.ready_at(scope))
            if isinstance(err, LLMError):
                self._llm_failures += 1
                self._paused_until = time.monotonic() + retry_delay(self._llm_failures)
        if isinstance(err, LLMError):
            logger.warning(
                "background extraction of %s deferred (its messages stay in the buffer), retried in %.1f s: "
                "%s",
                scope,
                delay,
                err,
            )
        else:
            logger.error(
                "background extraction of %s failed (its messages stay in the buffer), retried in %.1f s",
                scope,
                delay,
                exc_info=err,
            )
