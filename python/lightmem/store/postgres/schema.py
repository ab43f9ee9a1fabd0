"""The tables of a PostgreSQL store (prefixed `lightmem_`, in the connection's search_path schema),
created on first open and migrated on open, versioned in `lightmem_meta`.

Works on PostgreSQL >= 15 with pgvector >= 0.6: vectors in a `vector(dim)` column with an HNSW index
(cosine) over the live units, words in a generated `tsvector` column (english configuration: stemming,
stop words) with a GIN index, metadata and sources as jsonb, times as timestamptz.
"""

from __future__ import annotations

import uuid
from typing import Callable

from psycopg import errors, sql

from lightmem.store.errors import StoreError
from lightmem.store.postgres.connection import Connection, Database
from lightmem.store.schema import FORMAT

SCHEMA_VERSION = 1
"""Version of the schema below; a database with a higher one is refused, a lower one migrated."""
TEXT_CONFIG = "english"
"""The text search configuration of keyword search (stemming and stop words of English)."""
_OPEN_LOCK = 0x6C6D_0001
"""Advisory lock taken while the schema is created or migrated, so that concurrent opens take turns."""

_PENDING_LINE = (
    "COALESCE(message->>'name', message->>'role', '') || ': ' || COALESCE(message->>'content', '')"
)
"""A buffered message as `text_keys.message_line` writes it (speaker or role, then the content)."""


def _tables(dim: int) -> list[sql.Composed]:
    """The statements creating the schema for vectors of dimension `dim`."""
    values = {"dim": sql.Literal(dim), "config": sql.Literal(TEXT_CONFIG), "line": sql.SQL(_PENDING_LINE)}
    statements = [
        "CREATE TABLE IF NOT EXISTS lightmem_meta (key text PRIMARY KEY, value text NOT NULL)",
        """CREATE TABLE IF NOT EXISTS lightmem_units (
            rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            user_id text, agent_id text, run_id text,
            text text NOT NULL,
            topic text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            event_time timestamptz,
            source jsonb NOT NULL DEFAULT '[]',
            metadata jsonb NOT NULL DEFAULT '{{}}',
            hash text NOT NULL,
            version integer NOT NULL DEFAULT 1,
            deleted boolean NOT NULL DEFAULT false,
            consolidated boolean NOT NULL DEFAULT false,
            vector vector({dim}) NOT NULL,
            words tsvector GENERATED ALWAYS AS (to_tsvector({config}, text)) STORED)""",
        "CREATE INDEX IF NOT EXISTS lightmem_units_scope ON lightmem_units (user_id, agent_id, run_id) "
        "WHERE NOT deleted",
        "CREATE INDEX IF NOT EXISTS lightmem_units_agent ON lightmem_units (agent_id, run_id) "
        "WHERE NOT deleted",
        "CREATE INDEX IF NOT EXISTS lightmem_units_run ON lightmem_units (run_id) WHERE NOT deleted",
        "CREATE INDEX IF NOT EXISTS lightmem_units_unconsolidated ON lightmem_units (rowid) "
        "WHERE NOT consolidated AND NOT deleted",
        "CREATE INDEX IF NOT EXISTS lightmem_units_vector ON lightmem_units "
        "USING hnsw (vector vector_cosine_ops) WHERE NOT deleted",
        "CREATE INDEX IF NOT EXISTS lightmem_units_words ON lightmem_units USING gin (words) "
        "WHERE NOT deleted",
        """CREATE TABLE IF NOT EXISTS lightmem_history (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            memory_id text NOT NULL,
            event text NOT NULL,
            old_text text,
            new_text text,
            reason text,
            created_at timestamptz NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS lightmem_history_memory ON lightmem_history (memory_id)",
        # identity: a pending id is never reused (see the SQLite schema)
        """CREATE TABLE IF NOT EXISTS lightmem_pending (
            rowid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id text, agent_id text, run_id text,
            message jsonb NOT NULL,
            words integer NOT NULL,
            created_at timestamptz NOT NULL,
            vector vector({dim}),
            line_words tsvector
                GENERATED ALWAYS AS (to_tsvector({config}, {line})) STORED)""",
        "CREATE INDEX IF NOT EXISTS lightmem_pending_scope ON lightmem_pending (user_id, agent_id, run_id)",
        "CREATE INDEX IF NOT EXISTS lightmem_pending_words ON lightmem_pending USING gin (line_words)",
        # None scope ids as '' (never a valid id), so that the primary keys hold across processes
        """CREATE TABLE IF NOT EXISTS lightmem_message_ids (
            user_id text NOT NULL, agent_id text NOT NULL, run_id text NOT NULL,
            message_id text NOT NULL,
            digest bytea NOT NULL,
            PRIMARY KEY (user_id, agent_id, run_id, message_id))""",
        """CREATE TABLE IF NOT EXISTS lightmem_counters (
            user_id text NOT NULL, agent_id text NOT NULL, run_id text NOT NULL,
            name text NOT NULL,
            value bigint NOT NULL,
            PRIMARY KEY (user_id, agent_id, run_id, name))""",
    ]
    return [sql.SQL(statement).format(**values) for statement in statements]


_MIGRATIONS: dict[int, Callable[[Connection], None]] = {}
"""Schema version n -> the step to n + 1 (none yet: version 1 is the first)."""


def open_schema(db: Database, dim: int) -> str:
    """Create the tables (and the pgvector extension) if the database has none, migrate an older schema,
    check the format and the dimension; return the store's id. StoreError saying what to do otherwise."""

    def body(conn: Connection) -> str:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_OPEN_LOCK])
        _create_extension(conn, db.where)
        exists = conn.execute("SELECT to_regclass('lightmem_meta') IS NOT NULL").fetchone()
        if not (exists and exists[0]):
            for statement in _tables(dim):
                conn.execute(statement)
            meta = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION), "dim": str(dim)}
            meta["store_id"] = uuid.uuid4().hex
            conn.cursor().executemany("INSERT INTO lightmem_meta VALUES (%s, %s)", list(meta.items()))
        meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM lightmem_meta")}
        _check_meta(meta, db.where, dim)
        version = int(meta["schema_version"])
        for step in range(version, SCHEMA_VERSION):
            _MIGRATIONS[step](conn)
        if version < SCHEMA_VERSION:
            conn.execute(
                "UPDATE lightmem_meta SET value = %s WHERE key = 'schema_version'", [str(SCHEMA_VERSION)]
            )
        return str(meta["store_id"])

    return db.run(body)


def _create_extension(conn: Connection, where: str) -> None:
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except (errors.FeatureNotSupported, errors.UndefinedFile, errors.InsufficientPrivilege) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise StoreError(
            f"{where} lacks the pgvector extension ({reason}): install pgvector (>= 0.6) on the server, or "
            "have a superuser add the extension 'vector' to this database"
        ) from exc


def _check_meta(meta: dict[str, str], where: str, dim: int) -> None:
    if meta.get("format") != FORMAT:
        raise StoreError(f"{where} has a lightmem_meta table that is not lightmem's; use another database")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {version} but this lightmem supports up to {SCHEMA_VERSION}: "
            "upgrade lightmem to open it"
        )
    stored_dim = int(meta["dim"])
    if stored_dim != dim:
        raise StoreError(
            f"{where} holds vectors of dimension {stored_dim} but dimension {dim} was requested: use the "
            "embedding model the store was created with, or another database"
        )
