"""`MemoryJobs`: the slow work of a `Memory` (flushing each scope's short-term buffer, consolidating), as
the few operations a `lightmem.worker.Worker` runs outside the agents' calls. A package-level seam:
agents use `Memory`'s verbs, not this."""

from __future__ import annotations

import threading
from typing import Optional

from lightmem.ingestion import Ingestion
from lightmem.short_term_buffer import ShortTermBuffer
from lightmem.sleep import ConsolidationReport, SleepScheduler
from lightmem.store.protocol import ConsolidationStore
from lightmem.types import MemoryItem, Scope


class MemoryJobs:
    """The jobs of one memory: its `buffer`, the `ingestion` that flushes it, the `sleep` scheduler that
    consolidates, and the `store` they share (asked only whether anything is unconsolidated)."""

    def __init__(
        self, buffer: ShortTermBuffer, ingestion: Ingestion, sleep: SleepScheduler, store: ConsolidationStore
    ) -> None:
        self._buffer = buffer
        self._ingestion = ingestion
        self._sleep = sleep
        self._store = store

    def buffered_words(self) -> dict[Scope, int]:
        """The words buffered in each exact scope that has buffered messages."""
        return {scope: self._buffer.words(scope) for scope in self._buffer.scopes()}

    def words(self, scope: Scope) -> int:
        """The words buffered in the exact `scope`."""
        return self._buffer.words(scope)

    def flush(self, scope: Scope, *, force: bool) -> Optional[list[MemoryItem]]:
        """Flush the exact `scope` (`force`: its whole buffer, else its last topic segment waits for more
        turns): the units stored, or None when another process or thread holds its claim (nothing is
        done then)."""
        return self._ingestion.flush_scope(scope, force=force, wait=False)

    def consolidate(self, cancel: threading.Event) -> Optional[ConsolidationReport]:
        """A consolidation pass over every scope with unconsolidated units, stopped early once `cancel` is
        set: its report, or None when no unit was unconsolidated (no pass ran)."""
        if not self._store.unconsolidated(limit=1):
            return None
        return self._sleep.run_now(cancel=cancel)
