"""The SQLite file of a store: schema (versioned in `meta`), opening and checking it, write transactions."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable, TypeVar

from lightmem.store.codec import encode_json, message_digest
from lightmem.store.errors import StoreError
from lightmem.store.rows import record_message
from lightmem.types import Scope

T = TypeVar("T")
logger = logging.getLogger("lightmem")

SCHEMA_VERSION = 5
"""Version of the schema below; a file with a higher version is refused (written by a newer lightmem),
an older one is migrated on open (see `_MIGRATIONS`)."""
FORMAT = "lightmem"
"""`meta.format` of every lightmem database, to tell it from other SQLite files."""

_LOCK_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
"""Pauses between retries of an operation that failed with "database is locked" after busy_timeout."""

# AUTOINCREMENT: a pending id is never reused, so a process holding ids it read before another process
# extracted those rows can never delete (and mis-attribute) messages added since
_PENDING_TABLE = """CREATE TABLE IF NOT EXISTS pending (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    message TEXT NOT NULL,
    words INTEGER NOT NULL,
    created_at TEXT NOT NULL)"""
_PENDING_INDEX = "CREATE INDEX IF NOT EXISTS pending_scope ON pending (user_id, agent_id, run_id)"
# the embedding of each buffered turn (float32 BLOB, as units.vector), stored by `add`: search ranks the
# buffer by it and a flush reuses it; NULL for turns buffered by a lightmem before schema 4
_PENDING_VECTOR = "ALTER TABLE pending ADD COLUMN vector BLOB"

# every message id each exact scope has been given, buffered or extracted since (until `delete_all` of
# the scope), with a digest of the message: adding it again is then a no-op (see `rows.record_message`).
# A None scope id is stored as '' (never a valid id), so that the primary key makes (scope, message id)
# unique, also between processes
_MESSAGE_IDS_TABLE = """CREATE TABLE IF NOT EXISTS message_ids (
    user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (user_id, agent_id, run_id, message_id)) WITHOUT ROWID"""

# lifetime counters of each exact scope (words pruned, LLM calls, ...: see `Memory.stats`), each added to in
# the transaction of the work it counts (see `rows.add_counts`); scope ids as in `message_ids`
_COUNTERS_TABLE = """CREATE TABLE IF NOT EXISTS counters (
    user_id TEXT NOT NULL, agent_id TEXT NOT NULL, run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (user_id, agent_id, run_id, name)) WITHOUT ROWID"""

# the words of live units for keyword search (FTS5, BM25), kept in step by triggers inside every write;
# `scope` holds one token per id ("u" + hex(user_id), "a" + ..., "r" + ...), so that a search matches
# within its scope instead of scoring every scope's units. Buffered messages are indexed too, under the
# negative of their pending rowid (units have positive ones), so that one BM25 scores both. Optional:
# built on open wherever SQLite has FTS5 and JSON (from the live units and the buffer if the file has
# none yet)
_SCOPE_TOKENS = (
    "'u' || COALESCE(hex(user_id), '') || ' a' || COALESCE(hex(agent_id), '') "
    "|| ' r' || COALESCE(hex(run_id), '')"
)
_INDEX_UNITS = (
    "INSERT INTO units_text (rowid, text, scope) "
    f"SELECT rowid, text, {_SCOPE_TOKENS} FROM units WHERE deleted = 0"
)
"""Adds every live unit to the keyword index (its first build); the triggers narrow it to their row."""
PENDING_LINE = (
    "COALESCE(json_extract(message, '$.name'), json_extract(message, '$.role')) || ': ' || "
    "json_extract(message, '$.content')"
)
"""The SQL of a buffered message's line (as `text_keys.message_line` writes it): what keyword search sees."""
_INDEX_PENDING = (
    f"INSERT INTO units_text (rowid, text, scope) SELECT -rowid, {PENDING_LINE}, {_SCOPE_TOKENS} "
    "FROM pending WHERE rowid > 0"
)
"""Adds every buffered message (as `text_keys.message_line` writes it) to the keyword index."""
_PENDING_KEYWORD_TRIGGERS = (
    f"""CREATE TRIGGER pending_text_insert AFTER INSERT ON pending BEGIN
        {_INDEX_PENDING} AND rowid = new.rowid;
    END""",
    """CREATE TRIGGER pending_text_delete AFTER DELETE ON pending BEGIN
        DELETE FROM units_text WHERE rowid = -old.rowid;
    END""",
)
_KEYWORD_INDEX = (
    "CREATE VIRTUAL TABLE units_text USING fts5(text, scope, tokenize = 'porter unicode61')",
    f"""CREATE TRIGGER units_text_insert AFTER INSERT ON units BEGIN
        {_INDEX_UNITS} AND rowid = new.rowid;
    END""",
    f"""CREATE TRIGGER units_text_update AFTER UPDATE OF text, deleted ON units BEGIN
        DELETE FROM units_text WHERE rowid = old.rowid;
        {_INDEX_UNITS} AND rowid = new.rowid;
    END""",
    *_PENDING_KEYWORD_TRIGGERS,
    _INDEX_UNITS,
    _INDEX_PENDING,
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS units (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT, agent_id TEXT, run_id TEXT,
        text TEXT NOT NULL,
        topic TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        event_time TEXT,
        source TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}',
        hash TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        deleted INTEGER NOT NULL DEFAULT 0,
        consolidated INTEGER NOT NULL DEFAULT 0,
        seq INTEGER NOT NULL,
        vector BLOB NOT NULL)""",
    # scope indexes cover live units only: every scoped query says `deleted = 0`, and a count of a
    # scope's units is then an index-only scan
    "CREATE INDEX IF NOT EXISTS units_scope ON units (user_id, agent_id, run_id) WHERE deleted = 0",
    "CREATE INDEX IF NOT EXISTS units_agent ON units (agent_id, run_id) WHERE deleted = 0",
    "CREATE INDEX IF NOT EXISTS units_run ON units (run_id) WHERE deleted = 0",
    "CREATE INDEX IF NOT EXISTS units_seq ON units (seq)",
    "CREATE INDEX IF NOT EXISTS units_hash ON units (hash)",
    "CREATE INDEX IF NOT EXISTS units_unconsolidated ON units (rowid) WHERE consolidated = 0 AND deleted = 0",
    """CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY,
        memory_id TEXT NOT NULL,
        event TEXT NOT NULL,
        old_text TEXT,
        new_text TEXT,
        reason TEXT,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS history_memory ON history (memory_id)",
    _PENDING_TABLE,
    _PENDING_INDEX,
    _MESSAGE_IDS_TABLE,
    _PENDING_VECTOR,
    _COUNTERS_TABLE,
)

_MIGRATION_BATCH = 10_000
"""Pending rows read at a time by a migration."""


def _never_reuse_pending_ids(conn: sqlite3.Connection) -> None:
    """1 -> 2: pending ids could be reused once the newest rows were extracted."""
    for statement in (
        "ALTER TABLE pending RENAME TO pending_v1",
        "DROP INDEX IF EXISTS pending_scope",
        _PENDING_TABLE,
        _PENDING_INDEX,
        "INSERT INTO pending SELECT * FROM pending_v1",
        "DROP TABLE pending_v1",
    ):
        conn.execute(statement)


def _remember_message_ids(conn: sqlite3.Connection) -> None:
    """2 -> 3: the table of the message ids each scope was given, filled from the buffer. A buffered
    message whose id came before in its scope (a retried `add`, which made every extraction of the scope
    fail) is dropped when it is the same message: the first is kept. One with other content is kept
    under a new id (it was acknowledged) and logged. Messages extracted before are not remembered."""
    conn.execute(_MESSAGE_IDS_TABLE)
    last = 0
    while True:
        batch = conn.execute(
            "SELECT rowid, user_id, agent_id, run_id, message FROM pending WHERE rowid > ? ORDER BY rowid "
            "LIMIT ?",
            (last, _MIGRATION_BATCH),
        ).fetchall()
        if not batch:
            return
        for rowid, user_id, agent_id, run_id, text in batch:
            try:
                message = json.loads(text)
            except ValueError:  # not lightmem's: left as it is
                continue
            if isinstance(message, dict) and isinstance(message.get("id"), str):
                _remember_pending(conn, rowid, Scope(user_id, agent_id, run_id), message)
        last = batch[-1][0]


def _remember_pending(conn: sqlite3.Connection, rowid: int, scope: Scope, message: dict[str, Any]) -> None:
    """Record the id of the pending row `rowid` (`message`, of `scope`), or drop the row when it repeats
    an earlier message, or give it a new id when it reuses an earlier one's."""
    try:
        if not record_message(conn, scope, message["id"], message_digest(message)):
            conn.execute("DELETE FROM pending WHERE rowid = ?", (rowid,))
        return
    except ValueError:
        renamed = {**message, "id": uuid.uuid4().hex[:16]}
    record_message(conn, scope, renamed["id"], message_digest(renamed))
    conn.execute("UPDATE pending SET message = ? WHERE rowid = ?", (encode_json(renamed, "message"), rowid))
    logger.warning(
        "the buffer of %s held two different messages with id %r; the later one is kept as %r",
        scope,
        message["id"],
        renamed["id"],
    )


def _searchable_buffer(conn: sqlite3.Connection) -> None:
    """3 -> 4: buffered turns keep their embedding, and the keyword index (where the file has one) holds
    the buffered messages too."""
    conn.execute(_PENDING_VECTOR)
    if _has_table(conn, "units_text"):
        for statement in (*_PENDING_KEYWORD_TRIGGERS, _INDEX_PENDING):
            conn.execute(statement)


def _keep_counters(conn: sqlite3.Connection) -> None:
    """4 -> 5: the table of lifetime counters; they start at 0 (what was done before is not known)."""
    conn.execute(_COUNTERS_TABLE)


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _never_reuse_pending_ids,
    2: _remember_message_ids,
    3: _searchable_buffer,
    4: _keep_counters,
}
"""What takes a file from schema version `key` to `key + 1` (inside the transaction of `_migrate`)."""


class _Connection(sqlite3.Connection):
    """A connection whose cursors turn SQLite's "database disk image is malformed" / "file is not a
    database" errors (`sqlite3.DatabaseError` itself, not one of its subclasses), wherever a query meets
    them, into a StoreError naming the file and what to do."""

    path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _Cursor:
        return self.cursor(_Cursor).executemany(sql, parameters)


class _Cursor(sqlite3.Cursor):
    """See `_Connection`."""

    connection: _Connection

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        return self._checked(lambda: super(_Cursor, self).execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> _Cursor:
        return self._checked(lambda: super(_Cursor, self).executemany(sql, parameters))

    def fetchone(self) -> Any:
        return self._checked(super().fetchone)

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        return self._checked(lambda: super(_Cursor, self).fetchmany(size))

    def fetchall(self) -> list[Any]:
        return self._checked(super().fetchall)

    def __next__(self) -> Any:
        try:  # written out: this runs once per row
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            _raise_if_damaged(self.connection.path, exc)
            raise

    def _checked(self, query: Callable[[], T]) -> T:
        try:
            return query()
        except sqlite3.DatabaseError as exc:
            _raise_if_damaged(self.connection.path, exc)
            raise


def _raise_if_damaged(path: Path, exc: sqlite3.DatabaseError) -> None:
    """StoreError naming `path` and the fix if `exc` says the file is damaged (see `_Connection`); other
    errors (locks, a full disk, constraints) are the caller's business."""
    if type(exc) is sqlite3.DatabaseError:
        raise StoreError(
            f"{path} is corrupt or not an SQLite database ({exc}): restore it from a backup, or move it "
            f"away to start an empty store (`sqlite3 {path} .recover` may salvage its rows)"
        ) from exc


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) usable from any thread; queries on a
    damaged file raise StoreError (see `_Connection`)."""
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            factory=_Connection,
        )
        conn.path = path
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    return conn


def check_not_lost(path: Path, store_files: Sequence[Path]) -> None:
    """StoreError if the database file at `path` is missing or empty (0 bytes) although a store was here:
    one of `store_files` exists, or a write-ahead log with content. Opening it would silently start an
    empty store (SQLite takes an empty file for an empty database, and deletes its log). Without such
    signs, a missing or empty file is a new store (a process killed while creating one leaves an empty
    file)."""
    if path.exists() and path.stat().st_size > 0:
        return
    wal = path.with_name(path.name + "-wal")
    signs = [p.name for p in store_files if p.exists()]
    if wal.exists() and wal.stat().st_size > 0:
        signs.append(wal.name)
    if signs:
        state = "is empty (0 bytes)" if path.exists() else "is missing"
        raise StoreError(
            f"{path} {state} but {', '.join(signs)} beside it belong to a store that was there: the "
            "database was lost or truncated. Restore it from a backup; to start an empty store instead, "
            "move the directory away"
        )


def open_database(conn: sqlite3.Connection, path: Path, dim: int) -> tuple[str, bool]:
    """Create the schema in an empty file or check (and migrate) an existing one; return the store's
    id and whether it has its keyword index (see `_KEYWORD_INDEX`).

    Nothing is written to a file that is not a lightmem database.
    """
    try:
        rows = with_lock_retries(
            lambda: conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall(), path
        )
    except sqlite3.OperationalError as exc:  # a damaged file is a StoreError already (see `connect`)
        raise StoreError(f"cannot read {path} ({exc}); it was left untouched") from exc
    tables = {name for (name,) in rows}
    if tables and "meta" not in tables:
        raise StoreError(f"{path} is an SQLite database but not a lightmem one; use another directory")
    if not tables:
        with_lock_retries(lambda: _create(conn, dim), path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    _check_meta(meta, path, dim)
    if int(meta["schema_version"]) < SCHEMA_VERSION:
        with_lock_retries(lambda: write_transaction(conn, lambda: _migrate(conn)), path)
    keywords = with_lock_retries(lambda: _keyword_index(conn, path), path)
    with_lock_retries(lambda: conn.execute("PRAGMA journal_mode = WAL"), path)
    return meta["store_id"], keywords


def _keyword_index(conn: sqlite3.Connection, path: Path) -> bool:
    """Whether the file has its keyword index, built now if missing and this SQLite has FTS5 and JSON."""
    if not (has_fts5(conn) and _has_json(conn)):
        if _has_table(conn, "units_text"):  # its triggers would make every write fail
            raise StoreError(
                f"{path} has a keyword index but this Python's SQLite {sqlite3.sqlite_version} lacks FTS5 "
                "or JSON: open it with a Python whose SQLite has both (python.org, Debian, Ubuntu builds do)"
            )
        return False
    if not _has_table(conn, "units_text"):

        def build() -> None:
            if not _has_table(conn, "units_text"):  # another process may have built it meanwhile
                for statement in _KEYWORD_INDEX:
                    conn.execute(statement)

        write_transaction(conn, build)
    return True


def _has_json(conn: sqlite3.Connection) -> bool:
    """Whether this connection's SQLite has the JSON functions (built in since 3.38, an option before)."""
    try:
        conn.execute("SELECT json_extract('{}', '$.a')")
    except sqlite3.OperationalError:
        return False
    return True


def has_fts5(conn: sqlite3.Connection) -> bool:
    """Whether this connection's SQLite was built with the FTS5 extension."""
    query = "SELECT 1 FROM pragma_compile_options WHERE compile_options = 'ENABLE_FTS5'"
    return conn.execute(query).fetchone() is not None


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def _create(conn: sqlite3.Connection, dim: int) -> None:
    initial = {
        "format": FORMAT,
        "schema_version": str(SCHEMA_VERSION),
        "dim": str(dim),
        "seq": "0",
        "store_id": uuid.uuid4().hex,
    }

    def create() -> None:
        if _has_table(conn, "meta"):  # another process created it meanwhile (`_SCHEMA` has an ALTER)
            return
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", initial.items())

    write_transaction(conn, create)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION (inside the caller's transaction: another process may have
    migrated it since the version was read)."""
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    for step in range(int(version), SCHEMA_VERSION):
        _MIGRATIONS[step](conn)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def _check_meta(meta: dict[str, str], path: Path, dim: int) -> None:
    if meta.get("format") != FORMAT:
        raise StoreError(f"{path} is an SQLite database but not a lightmem one; use another directory")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version} but this lightmem supports up to {SCHEMA_VERSION}: "
            "upgrade lightmem to open it"
        )
    stored_dim = int(meta["dim"])
    if stored_dim != dim:
        raise StoreError(
            f"{path} holds vectors of dimension {stored_dim} but dimension {dim} was requested: "
            "use the embedding model the store was created with, or another directory"
        )


def write_transaction(conn: sqlite3.Connection, body: Callable[[], T]) -> T:
    """Run `body` inside BEGIN IMMEDIATE ... COMMIT; any exception rolls everything back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = body()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def with_lock_retries(action: Callable[[], T], path: Path) -> T:
    """Run `action`, retrying with a bounded backoff while the database stays locked past busy_timeout."""
    for delay in _LOCK_BACKOFF_S:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc):
                raise
        time.sleep(delay)
    try:
        return action()
    except sqlite3.OperationalError as exc:
        if not _is_locked(exc):
            raise
        raise StoreError(
            f"{path} stayed locked by another connection ({exc}); retry later or stop the "
            "process holding a long write transaction"
        ) from exc


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message
