"""The PostgreSQL store (`PostgresStore`): every unit, the short-term buffer, history and counters in one
PostgreSQL database with pgvector, shared by any number of processes on any number of machines.

Needs the `postgres` extra (psycopg 3 and psycopg_pool); nothing of it is imported until a store is
opened on a `postgresql://` URL (`open_postgres`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lightmem.store.postgres.url import is_postgres_url, masked_url

if TYPE_CHECKING:
    from lightmem.store.postgres.store import PostgresStore

__all__ = ["is_postgres_url", "masked_url", "open_postgres"]


def open_postgres(url: str, dim: int, **options: Any) -> PostgresStore:
    """`PostgresStore(url, dim, **options)`; StoreError saying what to install if psycopg is missing."""
    try:
        from lightmem.store.postgres.store import PostgresStore
    except ImportError as exc:
        from lightmem.store.errors import StoreError

        raise StoreError(
            f"{masked_url(url)} is a PostgreSQL URL, which needs psycopg 3 and psycopg_pool ({exc}): "
            "pip install 'lightmem-rs[postgres]'"
        ) from exc
    return PostgresStore(url, dim, **options)
