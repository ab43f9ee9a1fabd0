"""`Worker`: a long-running process that does the slow work of a shared memory so that agents' `add`
never waits on an LLM: it flushes the short-term buffer of each scope past its word threshold or idle
for `idle_s`, and consolidates scopes with new units.

Any number of workers, on any number of machines, share one store: each job is claimed in the store
(`MemoryStore.claim`), so no two workers extract the same messages or consolidate the same scope at
once, and a killed worker's claims fall to the others. Every write is one transaction, so a worker
killed at any point loses nothing: what it had not stored stays in the buffer for the next.
`stop` (SIGTERM, SIGINT under `lightmem worker`) ends the loop after the current job.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Optional

from lightmem.memory import Memory
from lightmem.retry_schedule import RetrySchedule, retry_delay
from lightmem.types import Scope

logger = logging.getLogger("lightmem")


@dataclass
class WorkerStats:
    """What a worker has done since it started."""

    flushes: int = 0
    """Scopes flushed (some may have given no unit)."""
    units: int = 0
    """Memory units stored by those flushes."""
    consolidations: int = 0
    """Consolidation passes run."""
    errors: int = 0
    """Jobs that failed (logged; their work stays for the next try)."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Worker:
    """Flushes and consolidates the scopes of `memory`'s store until `stop` (see the module).

    `threshold`: words buffered in a scope that make it due for a flush (default: the memory's
    `buffer_token_threshold`; the last topic segment then waits for more turns, as in `add`). `idle_s`: a
    scope whose buffer has not changed for this long is flushed whole. `poll_s`: pause between looks at
    the store when there is nothing to do. `consolidate`: False for a worker that only flushes. A scope
    whose flush failed waits for a backoff that doubles with each failure (`lightmem.retry_schedule`),
    not for the next poll, and so does consolidation after a pass the LLM (or an error) left unfinished.
    """

    def __init__(
        self,
        memory: Memory,
        *,
        threshold: Optional[int] = None,
        idle_s: float = 30.0,
        poll_s: float = 1.0,
        consolidate: bool = True,
    ) -> None:
        for name, value in (("idle_s", idle_s), ("poll_s", poll_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1
        ):
            raise ValueError(f"threshold must be an integer >= 1 or None, got {threshold!r}")
        self.memory = memory
        self.stats = WorkerStats()
        self._threshold = memory.config.buffer_token_threshold if threshold is None else threshold
        self._idle_s = float(idle_s)
        self._poll_s = float(poll_s)
        self._consolidates = bool(consolidate)
        self._stopping = threading.Event()
        self._seen: dict[Scope, tuple[int, float]] = {}
        """Per exact scope: the words buffered when last looked at, and since when they have not changed."""
        self._retries = RetrySchedule()
        self._consolidation_failures = 0
        """Consecutive consolidation passes that failed or left clusters to the next pass."""
        self._consolidate_at = 0.0
        """No consolidation pass starts before this `time.monotonic()` time (after a failed one)."""

    def stop(self) -> None:
        """End `run` after the current job (safe to call from a signal handler or another thread)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> WorkerStats:
        """Do the work as it comes until `stop`; return what was done."""
        while not self.stopping:
            if not self.run_once():
                self._stopping.wait(self._poll_s)
        return self.stats

    def run_once(self) -> bool:
        """Flush every scope due now, then, if none was, consolidate the scopes with new units; whether
        there was anything to do."""
        flushed = False
        for scope, force in self._due_scopes():
            if self.stopping:
                return True
            flushed = self._flush(scope, force) or flushed
        if flushed or self.stopping or not self._consolidates or time.monotonic() < self._consolidate_at:
            return flushed
        return self._consolidate()

    def _due_scopes(self) -> list[tuple[Scope, bool]]:
        """The exact scopes to flush now, each with whether to flush it whole (idle) or keep its last
        topic segment waiting (past the threshold)."""
        now = time.monotonic()
        due: list[tuple[Scope, bool]] = []
        seen: dict[Scope, tuple[int, float]] = {}
        for scope, words in self.memory.jobs.buffered_words().items():
            before, since = self._seen.get(scope, (-1, now))
            since = since if words == before else now
            seen[scope] = (words, since)
            if self._retries.ready_at(scope) > now:
                continue  # its last flush failed: it waits for its backoff
            if now - since >= self._idle_s:
                due.append((scope, True))
            elif words >= self._threshold:
                due.append((scope, False))
        self._seen = seen
        return due

    def _flush(self, scope: Scope, force: bool) -> bool:
        """Flush `scope` unless another process holds its claim; whether units were stored."""
        try:
            items = self.memory.jobs.flush(scope, force=force)
        except Exception:
            delay = self._retries.failed(scope)
            logger.exception(
                "worker: the flush of %s failed; its messages stay in the buffer, retried in %.1f s",
                scope,
                delay,
            )
            self.stats.errors += 1
            return False
        self._retries.succeeded(scope)
        if items is None:
            return False  # another process flushes it now
        self.stats.flushes += 1
        self.stats.units += len(items)
        if items:
            logger.info("worker: flushed %s into %d units", scope, len(items))
        return bool(items)

    def _consolidate(self) -> bool:
        """One consolidation pass over the scopes with unconsolidated units (each claimed in turn, those
        claimed by another worker skipped); whether it consolidated any. A pass that failed, or left
        clusters to the next because the LLM failed, is followed by a backoff (`retry_delay`)."""
        try:
            report = self.memory.jobs.consolidate(cancel=self._stopping)
        except Exception:
            logger.exception(
                "worker: consolidation failed; the units stay unconsolidated, next pass in %.1f s",
                self._consolidation_failed(),
            )
            self.stats.errors += 1
            return False
        if report is None:
            return False
        self.stats.consolidations += 1
        if report.scopes_failed or report.clusters_deferred:
            logger.warning(
                "worker: consolidation left %d scope(s) failed, %d cluster(s) deferred; next pass in %.1f s",
                report.scopes_failed,
                report.clusters_deferred,
                self._consolidation_failed(),
            )
            return False
        self._consolidation_failures = 0
        return report.scopes > 0

    def _consolidation_failed(self) -> float:
        """Note a failed pass and hold the next one back; the seconds until it may start."""
        self._consolidation_failures += 1
        delay = retry_delay(self._consolidation_failures)
        self._consolidate_at = time.monotonic() + delay
        return delay


def run_worker(
    location: str,
    *,
    threshold: Optional[int] = None,
    idle_s: float = 30.0,
    poll_s: float = 1.0,
    consolidate: bool = True,
    once: bool = False,
) -> WorkerStats:
    """The Python entry point of `lightmem worker`: open the memory at `location` (a directory or a
    postgresql:// URL; the LLM and the rest as `Memory` configures them from the environment) and run a
    `Worker` on it until SIGTERM or SIGINT (or one round of work when `once`); return what it did."""
    import signal

    with Memory(location) as memory:
        worker = Worker(memory, threshold=threshold, idle_s=idle_s, poll_s=poll_s, consolidate=consolidate)
        previous = {
            sig: signal.signal(sig, lambda *_: worker.stop()) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if once:
                worker.run_once()
            else:
                worker.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return worker.stats
