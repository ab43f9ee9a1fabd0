"""The long-term store, its one public face: `MemoryStore` (the contract the pipeline, search and sleep
depend on), `open_store` (the store a location names), `SQLiteStore` (SQLite + usearch in a directory),
and the values and errors of the contract."""

from lightmem.store.buffer_search import PENDING_ID_PREFIX
from lightmem.store.changes import Change, ChangeKind, UpdateEvent
from lightmem.store.errors import StoreError, VersionConflict
from lightmem.store.filters import SearchFilters
from lightmem.store.open import open_store
from lightmem.store.protocol import ConsolidationStore, MemoryStore, SearchStore, ShortTermStore, UnitStore
from lightmem.store.sqlite_store import SQLiteStore

__all__ = [
    "PENDING_ID_PREFIX",
    "Change",
    "ChangeKind",
    "ConsolidationStore",
    "MemoryStore",
    "SQLiteStore",
    "SearchFilters",
    "SearchStore",
    "ShortTermStore",
    "StoreError",
    "UnitStore",
    "UpdateEvent",
    "VersionConflict",
    "open_store",
]
