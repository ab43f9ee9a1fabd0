"""`MemoryStore`: what the pipeline, search and sleep ask of a long-term store, whatever keeps the data.

The SQLite + usearch store of a directory (`SQLiteStore`) is one implementation; any other (PostgreSQL)
must keep the same contract, and the behavioural tests in tests/ run against every implementation.

Scopes: a query scope matches units whose ids equal its non-None ids; a None id means any value (mem0's
filter semantics), and every scope carries at least one id. The short-term buffer and the counters are
kept per exact scope instead, None matching only None. Vectors are stored L2-normalised; scores of vector
search are cosine similarities. Every write is one transaction: it happens whole or not at all. Stores
are thread-safe, and several stores (threads, processes, machines) may share the same data at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Optional, Protocol, Union

import numpy as np

from lightmem.store.changes import Change
from lightmem.store.filters import SearchFilters
from lightmem.types import ExtractedUnit, HistoryEntry, MemoryItem, Scope


class UnitStore(Protocol):
    """The memory units of every scope, their history and the scopes' lifetime counters."""

    dim: int
    """Dimension of the stored vectors."""

    def add(
        self,
        scope: Scope,
        units: Sequence[ExtractedUnit],
        vectors: np.ndarray,
        metadata: Union[Mapping[str, Any], Sequence[Mapping[str, Any]], None] = None,
        pending_ids: Sequence[int] = (),
        messages: Sequence[Mapping[str, Any]] = (),
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[MemoryItem]:
        """Store `units` (with their (n, dim) `vectors`) in `scope` and drop the pending rows they came from.

        `metadata` is one mapping for all units or a sequence of one mapping per unit. `messages`: for
        units that store a message as it is (`add(infer=False)`), that message, one per unit, whose id is
        recorded as `pending_add` records it: a unit whose message the scope was given before is skipped
        (a retry), one whose id came with another message is a ValueError and nothing is stored.

        One transaction: the units, their ADD history rows, the removal of `pending_ids` (rows of the
        exact `scope`) and the addition of `counts` to the scope's counters happen together or not at
        all. KeyError if a pending row is gone (another process has extracted it already); nothing is
        stored or counted then.
        """
        ...

    def get(self, memory_id: str, scope: Optional[Scope] = None) -> Optional[MemoryItem]:
        """The live unit `memory_id`, or None (also when it is not in `scope`, if one is given)."""
        ...

    def get_all(
        self, scope: Scope, limit: Optional[int] = None, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The live units of `scope` that pass `filters`, oldest first, at most `limit` of them."""
        ...

    def update(
        self,
        memory_id: str,
        text: Optional[str],
        vector: Optional[np.ndarray],
        scope: Optional[Scope] = None,
        reason: Optional[str] = None,
        event: str = "UPDATE",
        metadata: Optional[Mapping[str, Any]] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> MemoryItem:
        """Replace the text and vector of a live unit and/or merge `metadata` into its metadata (the keys
        given replace theirs, the others stay); version + 1, history row `event`: UPDATE or MERGE.

        `text` and `vector` None: the metadata alone changes. KeyError if the unit does not exist, is
        deleted or is not in `scope`. A new text makes the unit unconsolidated again. An update that
        changes nothing (the same text, metadata the unit holds) writes nothing (`counts`
        aside) and returns the unit. `counts` are added to the counters of the unit's exact scope in the
        same transaction.
        """
        ...

    def delete(self, memory_id: str, scope: Optional[Scope] = None, reason: Optional[str] = None) -> None:
        """Delete a live unit (tombstone: its text stays for history). KeyError if absent or not in scope."""
        ...

    def delete_all(self, scope: Scope) -> int:
        """Delete every live unit of `scope`, its pending messages and the message ids it was given (see
        `ShortTermStore.pending_add`); return the number of units deleted. Concurrent with an `add` that
        takes pending rows of the scope (a flush, in any process), the result is as if one ran before the
        other: never units of messages deleted, nor a deleted unit without its DELETE history row."""
        ...

    def reset(self) -> None:
        """Delete every unit of every scope, all history, the whole short-term buffer, the message ids the
        scopes were given and every counter, in one transaction; no content of a unit remains. A flush
        concurrent with it leaves no unit behind (see `delete_all`)."""
        ...

    def history(self, memory_id: str, scope: Optional[Scope] = None) -> list[HistoryEntry]:
        """Every recorded change of a unit (deleted ones too), oldest first; [] if unknown or not in scope."""
        ...

    def count(self, scope: Optional[Scope] = None) -> int:
        """Number of live units, in `scope` or in the whole store."""
        ...

    def scopes(self) -> list[Scope]:
        """The distinct exact scopes that have live units."""
        ...

    def add_counts(self, scope: Scope, counts: Mapping[str, int]) -> None:
        """Add `counts` (names to integers >= 0) to the lifetime counters of the exact `scope`, in one small
        transaction; the counters are shared by every process and survive restarts. Work that writes to
        the store counts in its own transaction instead (`counts` of `add`, `pending_add`, `update`)."""
        ...

    def counters(self, scope: Optional[Scope] = None) -> dict[str, int]:
        """The lifetime counters (name -> total) of every exact scope `scope` covers (a None id matches any
        value), or of the whole store; names never counted are left out. `delete_all` keeps a scope's
        counters, `reset` clears them all."""
        ...

    def close(self) -> None:
        """Release the store's resources; idempotent. Nothing stored is lost by closing or by a crash."""
        ...


class SearchStore(Protocol):
    """Search over the live units of a scope, by meaning and by keywords."""

    def search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` most similar to `vector` that pass `filters`, best first; each
        item's `score` is its cosine similarity to `vector`."""
        ...

    @property
    def has_keyword_index(self) -> bool:
        """Whether `keyword_search` can find anything."""
        ...

    def keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """The `limit` live units of `scope` that pass `filters` and best match any of `keywords`, best
        first (BM25-like relevance over the units' words, English stemming), scoring at least `min_score`;
        each item's `score` is that relevance, higher is better. No keywords, no hits; no hits either
        without a keyword index (`has_keyword_index`)."""
        ...

    def similarities(self, vector: np.ndarray, memory_ids: Sequence[str]) -> dict[str, float]:
        """The cosine similarity of `vector` to each live unit or buffered message (`pending:N` ids, as
        search gives them) among `memory_ids` (unknown and deleted ids are left out), from the stored
        vectors."""
        ...


class ShortTermStore(Protocol):
    """The short-term buffer: messages of each exact scope waiting to be extracted, searchable meanwhile."""

    def pending_add(
        self,
        scope: Scope,
        messages: Sequence[dict[str, Any]],
        words: Sequence[int],
        vectors: Optional[np.ndarray] = None,
        counts: Optional[Mapping[str, int]] = None,
    ) -> list[int]:
        """Buffer `messages` (JSON-serialisable dicts) of `scope` with their word counts and, when given,
        their turns' embeddings; return the ids of the rows stored.

        A message with an `id` (a string) is stored once per exact scope: a message whose id the scope
        was given before (still buffered or extracted since; forgotten by `delete_all`) is skipped when
        it is the same message (a retry), and is a ValueError naming the id when it differs; nothing of
        the call is stored then. Concurrent calls, on any machine, store an id once. `counts` are added
        to the scope's counters in the same transaction.
        """
        ...

    def pending_list(self, scope: Scope) -> list[tuple[int, dict[str, Any]]]:
        """(pending id, message) of the exact `scope`, in insertion order."""
        ...

    def pending_vectors(self, pending_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The turn embeddings stored with these pending rows (rows buffered without one are left out)."""
        ...

    def pending_search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """The `limit` buffered messages of `scope` passing `filters` most similar to `vector`, as items
        marked `pending` (`score`: cosine similarity; messages buffered without a vector left out)."""
        ...

    def pending_keyword_search(
        self,
        keywords: Sequence[str],
        scope: Scope,
        limit: int,
        filters: Optional[SearchFilters] = None,
        min_score: float = 0.0,
    ) -> list[MemoryItem]:
        """`SearchStore.keyword_search` over the buffered messages of `scope` (same relevance scale), as
        items marked `pending`."""
        ...

    def pending_words(self, scope: Scope) -> int:
        """Total words buffered for the exact `scope`."""
        ...

    def pending_count(self, scope: Optional[Scope] = None) -> int:
        """Number of buffered messages of every exact scope `scope` covers, or of the whole store."""
        ...

    def pending_scopes(self) -> list[Scope]:
        """The exact scopes that have buffered messages."""
        ...


class ConsolidationStore(Protocol):
    """What sleep-time consolidation reads and writes."""

    def unconsolidated(
        self, scope: Optional[Scope] = None, limit: Optional[int] = None
    ) -> list[tuple[MemoryItem, np.ndarray]]:
        """Live units not yet looked at by consolidation (oldest first), with their stored vectors."""
        ...

    def neighbors_batch(
        self, vectors: np.ndarray, scope: Scope, k: int, exact_scope: bool = True
    ) -> list[list[tuple[MemoryItem, float]]]:
        """For each row of the (n, dim) `vectors`, its `k` nearest live units of `scope`, best first, as
        (item, cosine similarity); a stored vector finds itself. `exact_scope`: a None id of `scope`
        matches only units without that id (True), or any value as in `search` (False). The items carry
        no `score`."""
        ...

    def vectors(self, memory_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of live units, as an (n, dim) float32 matrix in the given order; KeyError
        naming the ids that are unknown or deleted."""
        ...

    def apply_changes(self, changes: Sequence[Change], scope: Optional[Scope] = None) -> None:
        """Apply a consolidation pass in ONE transaction, in order.

        If any id is not a live unit (KeyError), any unit has another version than its change's
        `expected_version` (VersionConflict; versions are compared before any change of the call, and
        the check holds against concurrent writers), or any change is invalid (ValueError), nothing
        changes. Updates of the text make a unit unconsolidated again, so put its 'mark_consolidated'
        after them. `scope`: every change must be of a unit of exactly this scope (a None id matches only
        None), else KeyError and nothing changes.
        """
        ...


class ClaimStore(Protocol):
    """Claims that keep two holders (threads, processes, machines) from doing the same work at once."""

    def claim(self, job: str, scope: Scope, *, wait: bool = False) -> AbstractContextManager[bool]:
        """Hold `job` ('flush' or 'consolidate') on the exact `scope` for a `with` block: the block gets
        True when it holds the claim, False when another holder has it (`wait`: block until it is free,
        then True). At most one holder at a time among every store sharing the data; released at the end
        of the block, or by the holder's death (a killed process), so that the work falls to the next
        claimant. A claim is advisory: writes stay checked by the store (pending rows, versions)."""
        ...


class MemoryStore(UnitStore, SearchStore, ShortTermStore, ConsolidationStore, ClaimStore, Protocol):
    """A whole long-term store: units, search, the short-term buffer, consolidation support and claims."""
