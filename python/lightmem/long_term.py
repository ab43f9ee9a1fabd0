"""Long-term memory: the store of memory units (SQLite, WAL, versioned schema) and the usearch index
beside it. The implementation lives in `lightmem.store`; this module is its import point."""

from lightmem.store.filters import SearchFilters
from lightmem.store.rows import Change, VersionConflict
from lightmem.store.schema import StoreError
from lightmem.store.sqlite_store import LongTermStore

__all__ = ["Change", "LongTermStore", "SearchFilters", "StoreError", "VersionConflict"]
