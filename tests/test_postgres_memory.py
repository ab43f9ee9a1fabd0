"""`Memory` on a PostgreSQL URL, against a real PostgreSQL with pgvector (see `pg_server`): URLs told from
paths, credentials kept out of messages, nothing of psycopg loaded for a directory, the whole cycle on a
URL. Isolation, crash safety and bad input run on PostgreSQL through the `store_kind` fixture."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes import HashEmbedder
from lightmem.memory import Memory
from lightmem.store import StoreError
from lightmem.store.postgres.store import PostgresStore
from lightmem.store.postgres.url import is_postgres_url, masked_url


def test_urls_are_told_from_paths_and_passwords_masked() -> None:
    assert is_postgres_url("postgresql://u:p@h/db") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url("./postgresql") and not is_postgres_url("/tmp/mem")
    assert (
        masked_url("postgresql://me:s3cret@db.example:5432/mem") == "postgresql://me:***@db.example:5432/mem"
    )
    assert masked_url("postgresql://db/mem?user=me&password=s3cret&sslmode=require") == (
        "postgresql://db/mem?user=me&password=***&sslmode=require"
    )


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = "postgresql://me:s3cret-4242@127.0.0.1:1/mem"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, 8, connect_timeout=1.0)
    assert "s3cret-4242" not in str(caught.value) and "me:***@127.0.0.1:1" in str(caught.value)


def test_nothing_of_postgres_is_imported_for_a_directory(tmp_path: object) -> None:
    code = (
        "import sys, tempfile; from lightmem.memory import Memory; from lightmem.cli import main; "
        "sys.path.insert(0, 'tests'); from fakes import HashEmbedder; "
        "Memory(tempfile.mkdtemp(), embedder=HashEmbedder()).close(); "
        "assert not [m for m in sys.modules if m.startswith(('psycopg', 'lightmem.store.postgres.store'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_memory_on_a_url_adds_flushes_searches_and_masks_its_path(postgres_url: str) -> None:
    with Memory(postgres_url, embedder=HashEmbedder(), buffer_token_threshold=1_000) as memory:
        assert memory.path == masked_url(postgres_url)
        memory.add("I run a marathon in Paris every spring", user_id="maya")
        memory.add("My dog Miso loves the beach", user_id="maya")
        assert memory.search("marathon Paris", user_id="maya")[0].pending
        items = memory.flush(user_id="maya")
        assert items and memory.stats(user_id="maya").pending_messages == 0
        assert memory.search("marathon in Paris", user_id="maya", limit=1)[0].text == items[0].text
        memory.consolidate()
        assert not memory.search("marathon", user_id="tom")
