"""`open_store`: the `MemoryStore` a location names, so that callers never pick an implementation.

A location is a directory (the SQLite + usearch store) or a `postgresql://` URL (the PostgreSQL store,
with the `postgres` extra); a URL of any other scheme is refused.
"""

from __future__ import annotations

import os
import re
from typing import Any, Union

from lightmem.store.postgres import is_postgres_url, open_postgres
from lightmem.store.protocol import MemoryStore
from lightmem.store.sqlite_store import SQLiteStore

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
"""A location starting with a URL scheme (two characters at least: `C://` is a Windows drive)."""


def open_store(location: Union[str, os.PathLike[str]], dim: int, **options: Any) -> MemoryStore:
    """Open (creating if needed) the store at `location` for vectors of dimension `dim`.

    A directory path opens the SQLite store there (`options`: those of `SQLiteStore`); a
    `postgresql://` (or `postgres://`) URL the PostgreSQL store (`options`: those of `PostgresStore`).
    A URL of another scheme is a ValueError naming it (it is never taken for a directory).
    """
    if isinstance(location, str) and is_postgres_url(location):
        return open_postgres(location, dim, **options)
    url = _URL.match(os.fspath(location)) if isinstance(location, str) else None
    if url is not None:
        raise ValueError(
            f"no store for {url.group(1)}:// locations (a directory path opens a SQLite store, "
            f"a postgresql:// URL a PostgreSQL store), got {location!r:.80}"
        )
    return SQLiteStore(location, dim, **options)
