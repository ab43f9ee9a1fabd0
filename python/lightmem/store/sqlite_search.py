"""`SearchPart` of `SQLiteStore`: search by meaning over the live units of a scope (through
`IndexedVectors`), nearest neighbours for consolidation, and similarities to stored vectors; the
contracts are `SearchStore.search`, `SearchStore.similarities` and `ConsolidationStore.neighbors_batch`
(lightmem.store.protocol)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from lightmem.limits import check_limit
from lightmem.store import buffer_search
from lightmem.store.codec import check_vector, check_vectors, decode_vectors
from lightmem.store.filters import SearchFilters
from lightmem.store.rows import check_scope, check_search, live_vectors, to_item
from lightmem.store.sqlite_db import Database
from lightmem.store.sqlite_vectors import IndexedVectors
from lightmem.types import MemoryItem, Scope


class SearchPart:
    """Vector search: ranked by `IndexedVectors`, read as items here."""

    dim: int
    _db: Database
    _vectors: IndexedVectors

    def search(
        self, vector: np.ndarray, scope: Scope, limit: int, filters: Optional[SearchFilters] = None
    ) -> list[MemoryItem]:
        """See `SearchStore.search`."""
        check_search(scope, limit, filters)
        query = check_vector(vector, self.dim)
        (hits,) = self._vectors.ranked(query[None], scope, False, filters, limit)
        return [to_item(row, score) for row, score in hits]

    def neighbors_batch(
        self, vectors: np.ndarray, scope: Scope, k: int, exact_scope: bool = True
    ) -> list[list[tuple[MemoryItem, float]]]:
        """See `ConsolidationStore.neighbors_batch`. The items may be shared between lists."""
        check_scope(scope)
        check_limit(k, "k")
        queries = check_vectors(vectors, self.dim, None, "vectors")
        ranked = self._vectors.ranked(queries, scope, exact_scope, None, k)
        items: dict[int, MemoryItem] = {}
        for hits in ranked:
            for row, _ in hits:
                if row[0] not in items:
                    items[row[0]] = to_item(row)
        return [[(items[row[0]], score) for row, score in hits] for hits in ranked]

    def similarities(self, vector: np.ndarray, memory_ids: Sequence[str]) -> dict[str, float]:
        """See `SearchStore.similarities`."""
        query = check_vector(vector, self.dim)
        conn = self._db.conn()
        found = live_vectors(conn, list(memory_ids))
        scores = decode_vectors(list(found.values()), self.dim) @ query
        return {
            **dict(zip(found, scores.tolist())),
            **buffer_search.cosines(conn, query, memory_ids, self.dim),
        }
